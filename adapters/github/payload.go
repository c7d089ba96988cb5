package github

// The parts of GitHub webhook payloads the normalizers read.

import (
	"encoding/json"
)

type account struct {
	Login string `json:"login"`
}

type label struct {
	Name string `json:"name"`
}

type team struct {
	Name string `json:"name"`
	Slug string `json:"slug"`
}

type issue struct {
	Number      int64           `json:"number"`
	Title       string          `json:"title"`
	Body        string          `json:"body"`
	Labels      []label         `json:"labels"`
	StateReason string          `json:"state_reason"`
	CreatedAt   string          `json:"created_at"`
	UpdatedAt   string          `json:"updated_at"`
	PullRequest json.RawMessage `json:"pull_request"`
}

type ref struct {
	Ref string `json:"ref"`
}

type pullRequest struct {
	Number    int64   `json:"number"`
	Title     string  `json:"title"`
	Body      string  `json:"body"`
	Labels    []label `json:"labels"`
	Merged    bool    `json:"merged"`
	MergedAt  string  `json:"merged_at"`
	Head      ref     `json:"head"`
	Base      ref     `json:"base"`
	CreatedAt string  `json:"created_at"`
	UpdatedAt string  `json:"updated_at"`
}

type comment struct {
	ID        int64  `json:"id"`
	Body      string `json:"body"`
	Path      string `json:"path"`
	Line      *int64 `json:"line"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
}

type review struct {
	ID          int64  `json:"id"`
	Body        string `json:"body"`
	State       string `json:"state"`
	SubmittedAt string `json:"submitted_at"`
}

type workflowRun struct {
	ID           int64  `json:"id"`
	Name         string `json:"name"`
	DisplayTitle string `json:"display_title"`
	RunNumber    int64  `json:"run_number"`
	RunAttempt   int64  `json:"run_attempt"`
	HeadBranch   string `json:"head_branch"`
	Status       string `json:"status"`
	Conclusion   string `json:"conclusion"`
	CreatedAt    string `json:"created_at"`
	UpdatedAt    string `json:"updated_at"`
	RunStartedAt string `json:"run_started_at"`
}

type workflow struct {
	Name string `json:"name"`
}

type step struct {
	Name       string `json:"name"`
	Conclusion string `json:"conclusion"`
}

type workflowJob struct {
	ID           int64  `json:"id"`
	RunID        int64  `json:"run_id"`
	RunAttempt   int64  `json:"run_attempt"`
	Name         string `json:"name"`
	WorkflowName string `json:"workflow_name"`
	HeadBranch   string `json:"head_branch"`
	Status       string `json:"status"`
	Conclusion   string `json:"conclusion"`
	CreatedAt    string `json:"created_at"`
	StartedAt    string `json:"started_at"`
	CompletedAt  string `json:"completed_at"`
	Steps        []step `json:"steps"`
}

type checkRun struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	Status      string `json:"status"`
	Conclusion  string `json:"conclusion"`
	HTMLURL     string `json:"html_url"`
	DetailsURL  string `json:"details_url"`
	StartedAt   string `json:"started_at"`
	CompletedAt string `json:"completed_at"`
	Output      struct {
		Title string `json:"title"`
	} `json:"output"`
	CheckSuite *struct {
		ID         int64  `json:"id"`
		HeadBranch string `json:"head_branch"`
	} `json:"check_suite"`
}

type payload struct {
	Action     string `json:"action"`
	Number     int64  `json:"number"`
	Repository *struct {
		FullName string `json:"full_name"`
	} `json:"repository"`
	Sender            *account     `json:"sender"`
	Issue             *issue       `json:"issue"`
	PullRequest       *pullRequest `json:"pull_request"`
	Comment           *comment     `json:"comment"`
	Review            *review      `json:"review"`
	WorkflowRun       *workflowRun `json:"workflow_run"`
	Workflow          *workflow    `json:"workflow"`
	WorkflowJob       *workflowJob `json:"workflow_job"`
	CheckRun          *checkRun    `json:"check_run"`
	Label             *label       `json:"label"`
	Assignee          *account     `json:"assignee"`
	RequestedReviewer *account     `json:"requested_reviewer"`
	RequestedTeam     *team        `json:"requested_team"`
}

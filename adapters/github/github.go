// Package github normalizes GitHub webhook deliveries into inbound messages.
//
// Supported events (the X-GitHub-Event header): issues, issue_comment,
// pull_request, pull_request_review, pull_request_review_comment,
// workflow_run, workflow_job and check_run. ping and every other event are
// domain.ErrEventIgnored: acknowledged, nothing stored (GitHub sends ping
// when a hook is created; push, star, fork, … carry nothing for an inbox). An
// unsupported event is ignored before its body is read.
//
// Mapping:
//
//   - ProviderEventID is the X-GitHub-Delivery header (a GUID; GitHub keeps it
//     on redelivery, so it de-duplicates). Missing is ErrMissingField naming
//     "X-GitHub-Delivery"; a missing X-GitHub-Event is ErrMissingField naming
//     "X-GitHub-Event".
//   - ExternalThreadID: an issue or pull request is "<owner>/<repo>#<number>"
//     (issues and pull requests share numbers, so an issue_comment on a pull
//     request joins the pull request's thread); a workflow run is
//     "<owner>/<repo>/actions/runs/<run id>", which workflow_job and GitHub
//     Actions check_run events join; any other check_run joins its check
//     suite, "<owner>/<repo>/check-suites/<suite id>".
//   - Subject: the issue or pull request title; for a workflow run
//     "<workflow name> #<run number> on <branch>"; for a job
//     "<workflow name> on <branch>"; for a check run "<check name> on <branch>".
//   - Text: one line saying what happened, then ": " and the body that was
//     written, if any (null and empty bodies are left out): "opened issue #1:
//     <body>", "commented on pull request #2: <body>", "approved pull request
//     #2", "merged pull request #2", "workflow run completed: failure — <title>",
//     "job lint completed: failure (failed step: Run lint)", "check run
//     Octocoders-linter completed: success". Who did it is the Sender.
//   - MessageType is always "event". Labels are the issue's or pull request's
//     label names: trimmed, cut to MaxLabelRunes characters, de-duplicated,
//     the first MaxLabels kept (GitHub's own limits are lower, so this never
//     rejects a delivery).
//   - Sender is sender.login (as both ExternalID and DisplayName).
//   - ExternalMessageID is the comment, review, job or check run id when the
//     event is about one; empty for issue, pull request and run events.
//   - OccurredAt is the updated_at (else created_at, submitted_at,
//     completed_at, started_at) of the object the event is about, in UTC.
//
// Invalid JSON or a body that is not an object is ErrInvalidPayload; a field of
// the wrong JSON type is ErrInvalidField naming its path (for example
// "issue.number"); a missing repository.full_name, issue, pull request, run
// or check run is ErrMissingField naming it.
package github

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/socialops/socialops/adapters/providertext"
	"github.com/socialops/socialops/domain"
)

// Header names the HTTP layer passes to Normalize.
const (
	HeaderEvent     = "X-GitHub-Event"
	HeaderDelivery  = "X-GitHub-Delivery"
	HeaderSignature = "X-Hub-Signature-256"
)

// Limits.
const (
	MaxLabels          = 20
	MaxLabelRunes      = 64
	maxDeliveryIDRunes = 128
	maxRepoRunes       = 256
	maxNameRunes       = 200 // names inside texts: workflows, jobs, branches, paths, logins
)

// Supported events.
var supported = map[string]bool{
	"issues":                      true,
	"issue_comment":               true,
	"pull_request":                true,
	"pull_request_review":         true,
	"pull_request_review_comment": true,
	"workflow_run":                true,
	"workflow_job":                true,
	"check_run":                   true,
}

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

// Normalize turns a GitHub delivery into an inbound message, or returns a
// *domain.Error (ErrMissingField, ErrInvalidField, ErrInvalidPayload or
// ErrEventIgnored). event is the X-GitHub-Event header and deliveryID the
// X-GitHub-Delivery header.
func Normalize(event, deliveryID string, body []byte) (domain.InboundMessage, error) {
	event = strings.TrimSpace(event)
	deliveryID = strings.TrimSpace(deliveryID)
	if event == "" {
		return domain.InboundMessage{}, domain.Errorf(domain.ErrMissingField, "the %s header is required", HeaderEvent)
	}
	if deliveryID == "" {
		return domain.InboundMessage{}, domain.Errorf(domain.ErrMissingField, "the %s header is required", HeaderDelivery)
	}
	if utf8.RuneCountInString(deliveryID) > maxDeliveryIDRunes || strings.IndexFunc(deliveryID, unicode.IsControl) >= 0 || !utf8.ValidString(deliveryID) {
		return domain.InboundMessage{}, domain.Errorf(domain.ErrInvalidField, "the %s header must be a delivery GUID", HeaderDelivery)
	}
	if !supported[event] {
		// ping, and any event without a message for an inbox.
		return domain.InboundMessage{}, domain.Errorf(domain.ErrEventIgnored, "GitHub %q events are not stored", providertext.CleanLine(event, 64))
	}

	var p payload
	if _, err := providertext.DecodeObject(body, &p, "GitHub webhook payload"); err != nil {
		return domain.InboundMessage{}, err
	}
	if p.Repository == nil {
		return domain.InboundMessage{}, domain.Errorf(domain.ErrMissingField, "repository.full_name is required")
	}
	repo := providertext.CleanLine(p.Repository.FullName, maxRepoRunes+1)
	if repo == "" {
		return domain.InboundMessage{}, domain.Errorf(domain.ErrMissingField, "repository.full_name is required")
	}
	if utf8.RuneCountInString(repo) > maxRepoRunes {
		return domain.InboundMessage{}, domain.Errorf(domain.ErrInvalidField, "repository.full_name must be at most %d characters", maxRepoRunes)
	}

	n := normalizer{p: &p, repo: repo, action: providertext.CleanLine(p.Action, 64)}
	var (
		msg domain.InboundMessage
		err error
	)
	switch event {
	case "issues":
		msg, err = n.issues()
	case "issue_comment":
		msg, err = n.issueComment()
	case "pull_request":
		msg, err = n.pullRequest()
	case "pull_request_review":
		msg, err = n.pullRequestReview()
	case "pull_request_review_comment":
		msg, err = n.pullRequestReviewComment()
	case "workflow_run":
		msg, err = n.workflowRun()
	case "workflow_job":
		msg, err = n.workflowJob()
	case "check_run":
		msg, err = n.checkRun()
	}
	if err != nil {
		return domain.InboundMessage{}, err
	}
	msg.Provider = domain.ProviderGitHub
	msg.ProviderEventID = deliveryID
	msg.MessageType = domain.MessageEvent
	msg.Subject = providertext.TruncateRunes(msg.Subject, providertext.MaxSubjectRunes)
	msg.Text = providertext.CleanText(msg.Text, providertext.MaxTextBytes)
	if p.Sender != nil {
		if login := providertext.CleanLine(p.Sender.Login, providertext.MaxDisplayNameRunes); login != "" {
			msg.Sender = domain.Sender{ExternalID: login, DisplayName: login}
		}
	}
	return msg, nil
}

type normalizer struct {
	p      *payload
	repo   string
	action string
}

func (n normalizer) issues() (domain.InboundMessage, error) {
	is := n.p.Issue
	if is == nil {
		return domain.InboundMessage{}, domain.Errorf(domain.ErrMissingField, "issue is required")
	}
	if is.Number <= 0 {
		return domain.InboundMessage{}, domain.Errorf(domain.ErrMissingField, "issue.number is required")
	}
	what := fmt.Sprintf("issue #%d", is.Number)
	var text string
	switch n.action {
	case "opened":
		text = withBody("opened "+what, is.Body)
	case "closed":
		switch is.StateReason {
		case "completed":
			text = "closed " + what + " as completed"
		case "not_planned":
			text = "closed " + what + " as not planned"
		default:
			text = "closed " + what
		}
	default:
		text = n.common(what)
	}
	return domain.InboundMessage{
		ExternalThreadID: n.numbered(is.Number),
		Subject:          orDefault(providertext.CleanLine(is.Title, providertext.MaxSubjectRunes), "Issue #"+strconv.FormatInt(is.Number, 10)),
		Text:             text,
		Labels:           labelNames(is.Labels),
		OccurredAt:       firstTime(is.UpdatedAt, is.CreatedAt),
	}, nil
}

func (n normalizer) issueComment() (domain.InboundMessage, error) {
	is, c := n.p.Issue, n.p.Comment
	if is == nil {
		return domain.InboundMessage{}, domain.Errorf(domain.ErrMissingField, "issue is required")
	}
	if is.Number <= 0 {
		return domain.InboundMessage{}, domain.Errorf(domain.ErrMissingField, "issue.number is required")
	}
	if c == nil {
		return domain.InboundMessage{}, domain.Errorf(domain.ErrMissingField, "comment is required")
	}
	kind := "issue"
	if providertext.Present(is.PullRequest) {
		kind = "pull request"
	}
	what := fmt.Sprintf("%s #%d", kind, is.Number)
	var text string
	switch n.action {
	case "created":
		text = withBody("commented on "+what, c.Body)
	case "edited":
		text = withBody("edited a comment on "+what, c.Body)
	case "deleted":
		text = "deleted a comment on " + what
	default:
		text = n.verb() + " a comment on " + what
	}
	return domain.InboundMessage{
		ExternalThreadID:  n.numbered(is.Number),
		ExternalMessageID: id(c.ID),
		Subject:           orDefault(providertext.CleanLine(is.Title, providertext.MaxSubjectRunes), titleCase(kind)+" #"+strconv.FormatInt(is.Number, 10)),
		Text:              text,
		Labels:            labelNames(is.Labels),
		OccurredAt:        firstTime(c.UpdatedAt, c.CreatedAt, is.UpdatedAt),
	}, nil
}

// pr returns the pull request of the payload and its number.
func (n normalizer) pr() (*pullRequest, int64, error) {
	pr := n.p.PullRequest
	if pr == nil {
		return nil, 0, domain.Errorf(domain.ErrMissingField, "pull_request is required")
	}
	number := pr.Number
	if number <= 0 {
		number = n.p.Number
	}
	if number <= 0 {
		return nil, 0, domain.Errorf(domain.ErrMissingField, "pull_request.number is required")
	}
	return pr, number, nil
}

func (n normalizer) prMessage(pr *pullRequest, number int64, text string) domain.InboundMessage {
	return domain.InboundMessage{
		ExternalThreadID: n.numbered(number),
		Subject:          orDefault(providertext.CleanLine(pr.Title, providertext.MaxSubjectRunes), "Pull request #"+strconv.FormatInt(number, 10)),
		Text:             text,
		Labels:           labelNames(pr.Labels),
		OccurredAt:       firstTime(pr.UpdatedAt, pr.CreatedAt),
	}
}

func (n normalizer) pullRequest() (domain.InboundMessage, error) {
	pr, number, err := n.pr()
	if err != nil {
		return domain.InboundMessage{}, err
	}
	what := fmt.Sprintf("pull request #%d", number)
	var text string
	switch n.action {
	case "opened":
		summary := "opened " + what
		head, base := providertext.CleanLine(pr.Head.Ref, maxNameRunes), providertext.CleanLine(pr.Base.Ref, maxNameRunes)
		if head != "" && base != "" {
			summary += " to merge " + head + " into " + base
		}
		text = withBody(summary, pr.Body)
	case "closed":
		if pr.Merged || pr.MergedAt != "" {
			text = "merged " + what
		} else {
			text = "closed " + what + " without merging"
		}
	case "synchronize":
		text = "pushed new commits to " + what
	case "ready_for_review":
		text = "marked " + what + " as ready for review"
	case "converted_to_draft":
		text = "converted " + what + " to a draft"
	case "review_requested":
		text = "requested a review from " + n.reviewer() + " on " + what
	case "review_request_removed":
		text = "removed the review request for " + n.reviewer() + " on " + what
	default:
		text = n.common(what)
	}
	return n.prMessage(pr, number, text), nil
}

func (n normalizer) pullRequestReview() (domain.InboundMessage, error) {
	pr, number, err := n.pr()
	if err != nil {
		return domain.InboundMessage{}, err
	}
	r := n.p.Review
	if r == nil {
		return domain.InboundMessage{}, domain.Errorf(domain.ErrMissingField, "review is required")
	}
	what := fmt.Sprintf("pull request #%d", number)
	var text string
	switch n.action {
	case "submitted":
		switch strings.ToLower(r.State) {
		case "approved":
			text = withBody("approved "+what, r.Body)
		case "changes_requested":
			text = withBody("requested changes on "+what, r.Body)
		default:
			text = withBody("reviewed "+what, r.Body)
		}
	case "edited":
		text = withBody("edited a review on "+what, r.Body)
	case "dismissed":
		text = "dismissed a review on " + what
	default:
		text = n.verb() + " a review on " + what
	}
	msg := n.prMessage(pr, number, text)
	msg.ExternalMessageID = id(r.ID)
	msg.OccurredAt = firstTime(r.SubmittedAt, pr.UpdatedAt, pr.CreatedAt)
	return msg, nil
}

func (n normalizer) pullRequestReviewComment() (domain.InboundMessage, error) {
	pr, number, err := n.pr()
	if err != nil {
		return domain.InboundMessage{}, err
	}
	c := n.p.Comment
	if c == nil {
		return domain.InboundMessage{}, domain.Errorf(domain.ErrMissingField, "comment is required")
	}
	where := fmt.Sprintf("pull request #%d", number)
	if path := providertext.CleanLine(c.Path, maxNameRunes); path != "" {
		if c.Line != nil && *c.Line > 0 {
			path += fmt.Sprintf(" line %d", *c.Line)
		}
		where = path + " in " + where
	}
	var text string
	switch n.action {
	case "created":
		text = withBody("commented on "+where, c.Body)
	case "edited":
		text = withBody("edited a comment on "+where, c.Body)
	case "deleted":
		text = "deleted a comment on " + where
	default:
		text = n.verb() + " a comment on " + where
	}
	msg := n.prMessage(pr, number, text)
	msg.ExternalMessageID = id(c.ID)
	msg.OccurredAt = firstTime(c.UpdatedAt, c.CreatedAt, pr.UpdatedAt)
	return msg, nil
}

func (n normalizer) workflowRun() (domain.InboundMessage, error) {
	run := n.p.WorkflowRun
	if run == nil {
		return domain.InboundMessage{}, domain.Errorf(domain.ErrMissingField, "workflow_run is required")
	}
	if run.ID <= 0 {
		return domain.InboundMessage{}, domain.Errorf(domain.ErrMissingField, "workflow_run.id is required")
	}
	name := providertext.CleanLine(run.Name, maxNameRunes)
	if name == "" && n.p.Workflow != nil {
		name = providertext.CleanLine(n.p.Workflow.Name, maxNameRunes)
	}
	subject := orDefault(name, "Workflow")
	if run.RunNumber > 0 {
		subject += " #" + strconv.FormatInt(run.RunNumber, 10)
	}
	if branch := providertext.CleanLine(run.HeadBranch, maxNameRunes); branch != "" {
		subject += " on " + branch
	}
	text := "workflow run " + n.progress(run.Status, run.Conclusion)
	if run.RunAttempt > 1 {
		text += fmt.Sprintf(" (attempt %d)", run.RunAttempt)
	}
	if title := providertext.CleanLine(run.DisplayTitle, providertext.MaxSubjectRunes); title != "" {
		text += " — " + title
	}
	return domain.InboundMessage{
		ExternalThreadID: n.runThread(run.ID),
		Subject:          subject,
		Text:             text,
		OccurredAt:       firstTime(run.UpdatedAt, run.RunStartedAt, run.CreatedAt),
	}, nil
}

func (n normalizer) workflowJob() (domain.InboundMessage, error) {
	job := n.p.WorkflowJob
	if job == nil {
		return domain.InboundMessage{}, domain.Errorf(domain.ErrMissingField, "workflow_job is required")
	}
	if job.RunID <= 0 {
		return domain.InboundMessage{}, domain.Errorf(domain.ErrMissingField, "workflow_job.run_id is required")
	}
	subject := orDefault(providertext.CleanLine(job.WorkflowName, maxNameRunes), "Workflow")
	if branch := providertext.CleanLine(job.HeadBranch, maxNameRunes); branch != "" {
		subject += " on " + branch
	}
	text := "job " + orDefault(providertext.CleanLine(job.Name, maxNameRunes), strconv.FormatInt(job.ID, 10)) + " " + n.progress(job.Status, job.Conclusion)
	if job.Conclusion == "failure" {
		for _, s := range job.Steps {
			if s.Conclusion == "failure" {
				if name := providertext.CleanLine(s.Name, maxNameRunes); name != "" {
					text += " (failed step: " + name + ")"
				}
				break
			}
		}
	}
	if job.RunAttempt > 1 {
		text += fmt.Sprintf(" (attempt %d)", job.RunAttempt)
	}
	return domain.InboundMessage{
		ExternalThreadID:  n.runThread(job.RunID),
		ExternalMessageID: id(job.ID),
		Subject:           subject,
		Text:              text,
		OccurredAt:        firstTime(job.CompletedAt, job.StartedAt, job.CreatedAt),
	}, nil
}

func (n normalizer) checkRun() (domain.InboundMessage, error) {
	cr := n.p.CheckRun
	if cr == nil {
		return domain.InboundMessage{}, domain.Errorf(domain.ErrMissingField, "check_run is required")
	}
	var thread, branch string
	if runID := n.actionsRunID(cr.HTMLURL, cr.DetailsURL); runID > 0 {
		thread = n.runThread(runID)
	}
	if cr.CheckSuite != nil {
		branch = providertext.CleanLine(cr.CheckSuite.HeadBranch, maxNameRunes)
		if thread == "" && cr.CheckSuite.ID > 0 {
			thread = fmt.Sprintf("%s/check-suites/%d", n.repo, cr.CheckSuite.ID)
		}
	}
	if thread == "" {
		return domain.InboundMessage{}, domain.Errorf(domain.ErrMissingField, "check_run.check_suite.id is required")
	}
	name := orDefault(providertext.CleanLine(cr.Name, maxNameRunes), "check")
	subject := name
	if branch != "" {
		subject += " on " + branch
	}
	var text string
	switch n.action {
	case "rerequested":
		text = "re-requested check run " + name
	case "requested_action":
		text = "requested an action on check run " + name
	default:
		text = "check run " + name + " " + n.progress(cr.Status, cr.Conclusion)
	}
	if title := providertext.CleanLine(cr.Output.Title, providertext.MaxSubjectRunes); title != "" {
		text += " — " + title
	}
	return domain.InboundMessage{
		ExternalThreadID:  thread,
		ExternalMessageID: id(cr.ID),
		Subject:           subject,
		Text:              text,
		OccurredAt:        firstTime(cr.CompletedAt, cr.StartedAt),
	}, nil
}

// common words the actions issues and pull requests share.
func (n normalizer) common(what string) string {
	switch n.action {
	case "labeled":
		if l := n.labelName(); l != "" {
			return fmt.Sprintf("added the label %q to %s", l, what)
		}
	case "unlabeled":
		if l := n.labelName(); l != "" {
			return fmt.Sprintf("removed the label %q from %s", l, what)
		}
	case "assigned":
		if a := n.login(n.p.Assignee); a != "" {
			return "assigned " + what + " to " + a
		}
	case "unassigned":
		if a := n.login(n.p.Assignee); a != "" {
			return "unassigned " + a + " from " + what
		}
	}
	return n.verb() + " " + what
}

// verb is the action as a readable verb: "reopened", "milestoned",
// "review requested" (underscores become spaces), or "updated".
func (n normalizer) verb() string {
	if n.action == "" {
		return "updated"
	}
	return strings.ReplaceAll(n.action, "_", " ")
}

// progress describes a run, job or check: "completed: failure", "in progress".
func (n normalizer) progress(status, conclusion string) string {
	state := providertext.CleanLine(status, 64)
	if state == "" {
		state = n.action
	}
	state = strings.ReplaceAll(orDefault(state, "updated"), "_", " ")
	if c := providertext.CleanLine(conclusion, 64); c != "" {
		return state + ": " + strings.ReplaceAll(c, "_", " ")
	}
	return state
}

func (n normalizer) labelName() string {
	if n.p.Label == nil {
		return ""
	}
	return providertext.CleanLine(n.p.Label.Name, MaxLabelRunes)
}

func (n normalizer) login(a *account) string {
	if a == nil {
		return ""
	}
	if l := providertext.CleanLine(a.Login, maxNameRunes); l != "" {
		return "@" + l
	}
	return ""
}

func (n normalizer) reviewer() string {
	if r := n.login(n.p.RequestedReviewer); r != "" {
		return r
	}
	if t := n.p.RequestedTeam; t != nil {
		if name := providertext.CleanLine(orDefault(t.Name, t.Slug), maxNameRunes); name != "" {
			return "team " + name
		}
	}
	return "a reviewer"
}

func (n normalizer) numbered(number int64) string {
	return n.repo + "#" + strconv.FormatInt(number, 10)
}

func (n normalizer) runThread(runID int64) string {
	return n.repo + "/actions/runs/" + strconv.FormatInt(runID, 10)
}

var runURL = regexp.MustCompile(`^https://[^/?#]+/([^?#]+)/actions/runs/([0-9]{1,19})(?:[/?#]|$)`)

// actionsRunID finds the GitHub Actions run a check run belongs to in its
// html_url or details_url ("https://github.com/<repo>/actions/runs/<id>/job/…");
// only a URL of this repository counts.
func (n normalizer) actionsRunID(urls ...string) int64 {
	for _, u := range urls {
		m := runURL.FindStringSubmatch(u)
		if m == nil || !strings.EqualFold(m[1], n.repo) {
			continue
		}
		if id, err := strconv.ParseInt(m[2], 10, 64); err == nil && id > 0 {
			return id
		}
	}
	return 0
}

// withBody appends a written body to a summary, leaving out empty bodies.
func withBody(summary, body string) string {
	if b := providertext.CleanText(body, providertext.MaxTextBytes); b != "" {
		return summary + ": " + b
	}
	return summary
}

func labelNames(labels []label) []string {
	var out []string
	seen := map[string]bool{}
	for _, l := range labels {
		name := providertext.CleanLine(l.Name, MaxLabelRunes)
		if name == "" || seen[name] {
			continue
		}
		seen[name] = true
		out = append(out, name)
		if len(out) == MaxLabels {
			break
		}
	}
	return out
}

func id(n int64) string {
	if n <= 0 {
		return ""
	}
	return strconv.FormatInt(n, 10)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func titleCase(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// firstTime is the first of the RFC 3339 times that parses and can be
// encoded (years 1 to 9999), in UTC; zero when none does.
func firstTime(values ...string) time.Time {
	for _, v := range values {
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			continue
		}
		t = t.UTC()
		if t.Year() >= 1 && t.Year() <= 9999 {
			return t
		}
	}
	return time.Time{}
}

// VerifySignature reports whether header, the X-Hub-Signature-256 header
// ("sha256=<hex>"), is the HMAC-SHA256 of body keyed with secret. The
// comparison is constant time. An empty secret verifies nothing and returns
// false.
func VerifySignature(secret string, body []byte, header string) bool {
	if secret == "" {
		return false
	}
	header = strings.TrimSpace(header)
	const prefix = "sha256="
	if len(header) <= len(prefix) || !strings.EqualFold(header[:len(prefix)], prefix) {
		return false
	}
	got, err := hex.DecodeString(header[len(prefix):])
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

package github

// GitHub Actions runs and jobs, and check runs.

import (
	"fmt"
	"strconv"

	"github.com/socialops/socialops/adapters/providertext"
	"github.com/socialops/socialops/domain"
)

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

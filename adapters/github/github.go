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
	"strings"
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

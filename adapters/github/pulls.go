package github

// Pull requests, their reviews and review comments.

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/socialops/socialops/adapters/providertext"
	"github.com/socialops/socialops/domain"
)

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
	text := n.commentText(where, c.Body)
	msg := n.prMessage(pr, number, text)
	msg.ExternalMessageID = id(c.ID)
	msg.OccurredAt = firstTime(c.UpdatedAt, c.CreatedAt, pr.UpdatedAt)
	return msg, nil
}

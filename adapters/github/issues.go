package github

// Issues and their comments.

import (
	"fmt"
	"strconv"

	"github.com/socialops/socialops/adapters/providertext"
	"github.com/socialops/socialops/domain"
)

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
	text := n.commentText(what, c.Body)
	return domain.InboundMessage{
		ExternalThreadID:  n.numbered(is.Number),
		ExternalMessageID: id(c.ID),
		Subject:           orDefault(providertext.CleanLine(is.Title, providertext.MaxSubjectRunes), titleCase(kind)+" #"+strconv.FormatInt(is.Number, 10)),
		Text:              text,
		Labels:            labelNames(is.Labels),
		OccurredAt:        firstTime(c.UpdatedAt, c.CreatedAt, is.UpdatedAt),
	}, nil
}

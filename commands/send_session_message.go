package commands

import (
	"context"

	"github.com/socialops/socialops/domain"
)

// SendSessionMessage is seed 003's operator message: a reply queued exactly
// like seed 000's, on a manual session only.
type SendSessionMessage struct {
	Instance domain.Instance
	ThreadID string
	Text     string
	Context  Context
}

// SendSessionMessage queues the reply; delivery, billing and refunds follow
// as for every reply. The session's state is checked on the same thread
// revision the reply is appended with.
func (s *Service) SendSessionMessage(ctx context.Context, cmd SendSessionMessage) (ReplyResult, error) {
	msgID := domain.RandomID(domain.PrefixMessage, s.random)
	actionID := domain.RandomID(domain.PrefixAction, s.random)
	res, err := s.changeThread(ctx, cmd.ThreadID, cmd.Context, func(t domain.Thread) ([]domain.Event, error) {
		if err := domain.RequireManualSession(t, cmd.Instance.ID); err != nil {
			return nil, err
		}
		evs, _, err := domain.DecideReply(t, domain.QueueReplyCommand{
			InstanceID: cmd.Instance.ID, MessageID: msgID, ActionID: actionID,
			Author: cmd.Context.Actor.ID, Text: cmd.Text,
		})
		return evs, err
	}, func(domain.Event) string { return domain.EventUUID("reply", actionID) })
	if err != nil {
		return ReplyResult{}, err
	}
	return ReplyResult{Reply: res.Events[0].(domain.ReplyQueued), Position: res.Position}, nil
}

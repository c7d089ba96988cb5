package commands

import (
	"context"

	"github.com/socialops/socialops/domain"
)

// QueueReply stores an outbound reply and its pending send_reply action.
type QueueReply struct {
	InstanceID string
	ThreadID   string
	Text       string
	// MessageID and ActionID are set when the caller derived them from an
	// Idempotency-Key; otherwise fresh ids are made.
	MessageID string
	ActionID  string
	Context   Context
}

// ReplyResult is the queued reply; Replayed is true when the reply already
// existed (a repeated Idempotency-Key) and nothing was appended.
type ReplyResult struct {
	Reply    domain.ReplyQueued
	Position uint64
	Replayed bool
}

// QueueReply appends ReplyQueued; the delivery process manager acts on it.
func (s *Service) QueueReply(ctx context.Context, cmd QueueReply) (ReplyResult, error) {
	if cmd.MessageID == "" {
		cmd.MessageID = domain.RandomID(domain.PrefixMessage, s.random)
	}
	if cmd.ActionID == "" {
		cmd.ActionID = domain.RandomID(domain.PrefixAction, s.random)
	}
	var existing domain.ReplyQueued
	res, err := s.changeThread(ctx, cmd.ThreadID, cmd.Context, func(t domain.Thread) ([]domain.Event, error) {
		evs, prev, err := domain.DecideReply(t, domain.QueueReplyCommand{
			InstanceID: cmd.InstanceID, MessageID: cmd.MessageID, ActionID: cmd.ActionID,
			Author: cmd.Context.Actor.ID, Text: cmd.Text,
		})
		existing = prev
		return evs, err
	}, func(e domain.Event) string {
		// A repeated request proposes the same event id, so the store keeps one.
		return domain.EventUUID("reply", cmd.ActionID)
	})
	if err != nil {
		return ReplyResult{}, err
	}
	if len(res.Events) == 0 {
		return ReplyResult{Reply: existing, Replayed: true}, nil
	}
	return ReplyResult{Reply: res.Events[0].(domain.ReplyQueued), Position: res.Position}, nil
}

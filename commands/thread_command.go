package commands

import (
	"context"

	"github.com/socialops/socialops/domain"
)

// threadResult is what a thread command appended.
type threadResult struct {
	State    domain.Thread
	Events   []domain.Event
	Position uint64 // 0 when nothing was appended
}

// changeThread runs a thread command: decide on the thread's state and
// append with its revision, retrying after concurrent changes (decideAndAppend).
func (s *Service) changeThread(ctx context.Context, threadID string, cc Context,
	decide func(domain.Thread) ([]domain.Event, error),
	eventID func(domain.Event) string,
) (threadResult, error) {
	state, events, pos, err := decideAndAppend(ctx, s, domain.ThreadStream(threadID), cc,
		func() (domain.Thread, int64, error) {
			t, err := s.loadThread(ctx, threadID)
			return t, t.Version, err
		},
		decide, eventID,
		func(t domain.Thread, cc *Context) { cc.OwnerID, cc.InstanceAlias = t.OwnerID, t.InstanceAlias })
	if err != nil {
		return threadResult{}, err
	}
	for _, e := range events {
		state = applyLocal(state, e)
	}
	return threadResult{State: state, Events: events, Position: pos}, nil
}

// applyLocal folds an event just appended into the state returned to the caller.
func applyLocal(t domain.Thread, e domain.Event) domain.Thread {
	v := t.Version
	t = domain.EvolveThread(t, domain.Envelope{Payload: e, Raw: domain.RecordedEvent{Revision: uint64(v + 1)}})
	return t
}

package commands

import (
	"context"
	"errors"

	"github.com/socialops/socialops/domain"
)

// threadResult is what a thread command appended.
type threadResult struct {
	State    domain.Thread
	Events   []domain.Event
	Position uint64 // 0 when nothing was appended
}

// changeThread loads a thread, lets decide pick the events, and appends them
// with the loaded revision; on a concurrent change it reloads and decides
// again, up to MaxAttempts, then gives up with ErrConcurrencyExhausted.
// eventID gives each event its id (random unless the input has a natural key).
func (s *Service) changeThread(ctx context.Context, threadID string, cc Context,
	decide func(domain.Thread) ([]domain.Event, error),
	eventID func(domain.Event) string,
) (threadResult, error) {
	stream := domain.ThreadStream(threadID)
	for attempt := 0; attempt < s.MaxAttempts; attempt++ {
		state, err := s.loadThread(ctx, threadID)
		if err != nil {
			return threadResult{}, err
		}
		events, err := decide(state)
		if err != nil {
			return threadResult{}, err
		}
		if len(events) == 0 {
			return threadResult{State: state}, nil
		}
		cc.OwnerID, cc.InstanceAlias = state.OwnerID, state.InstanceAlias
		proposed := make([]domain.ProposedEvent, 0, len(events))
		for _, e := range events {
			id := ""
			if eventID != nil {
				id = eventID(e)
			}
			if id == "" {
				id = domain.RandomUUID(s.random)
			}
			p, err := s.encode(cc, id, e)
			if err != nil {
				return threadResult{}, err
			}
			proposed = append(proposed, p)
		}
		res, err := s.log.Append(ctx, stream, domain.ExpectedFromVersion(state.Version), proposed...)
		if errors.Is(err, domain.ErrWrongExpectedRevision) {
			if err := s.backoff(ctx, attempt); err != nil {
				return threadResult{}, err
			}
			continue
		}
		if err != nil {
			return threadResult{}, err
		}
		for _, e := range events {
			state = applyLocal(state, e)
		}
		return threadResult{State: state, Events: events, Position: res.Position}, nil
	}
	s.logger.Warn("thread command gave up after concurrent changes", "thread_id", threadID, "attempts", s.MaxAttempts)
	return threadResult{}, domain.ErrConcurrencyExhausted
}

// applyLocal folds an event just appended into the state returned to the caller.
func applyLocal(t domain.Thread, e domain.Event) domain.Thread {
	v := t.Version
	t = domain.EvolveThread(t, domain.Envelope{Payload: e, Raw: domain.RecordedEvent{Revision: uint64(v + 1)}})
	return t
}

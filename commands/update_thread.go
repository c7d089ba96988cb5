package commands

import (
	"context"

	"github.com/socialops/socialops/domain"
)

// UpdateThread changes a thread's status, priority and assignee (any subset).
type UpdateThread struct {
	InstanceID string
	ThreadID   string
	Changes    domain.ThreadChanges
	Context    Context
}

// UpdateResult is the thread after the change and what was appended.
type UpdateResult struct {
	Thread   domain.Thread
	Events   []domain.Event
	Position uint64
}

// UpdateThread appends one event per field that changes; a change to the
// current value appends nothing.
func (s *Service) UpdateThread(ctx context.Context, cmd UpdateThread) (UpdateResult, error) {
	res, err := s.changeThread(ctx, cmd.ThreadID, cmd.Context, func(t domain.Thread) ([]domain.Event, error) {
		return domain.DecideThreadChanges(t, cmd.InstanceID, cmd.Changes)
	}, nil)
	if err != nil {
		return UpdateResult{}, err
	}
	return UpdateResult{Thread: res.State, Events: res.Events, Position: res.Position}, nil
}

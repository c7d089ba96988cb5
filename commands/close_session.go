package commands

import (
	"context"

	"github.com/socialops/socialops/domain"
)

// CloseSession closes a session and resolves its thread (seed 003's close).
type CloseSession struct {
	Instance domain.Instance
	ThreadID string
	Context  Context
}

// CloseSession appends SessionClosed (and the thread's move to resolved);
// closing a closed session appends nothing.
func (s *Service) CloseSession(ctx context.Context, cmd CloseSession) (SessionResult, error) {
	return s.changeThread(ctx, cmd.ThreadID, cmd.Context, func(t domain.Thread) ([]domain.Event, error) {
		return domain.DecideCloseSession(t, cmd.Instance.ID, cmd.Context.Actor)
	}, nil)
}

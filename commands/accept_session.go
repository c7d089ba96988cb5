package commands

import (
	"context"

	"github.com/socialops/socialops/domain"
)

// AcceptSession is an operator taking a pending session (seed 003's accept).
type AcceptSession struct {
	Instance   domain.Instance
	ThreadID   string
	OperatorID int64
	Context    Context
}

// AcceptSession appends SessionAccepted with the thread's revision: of many
// concurrent accepts exactly one finds the session pending; the others decide
// again on the thread that holds it and get ErrSessionWrongStatus. The
// routing manager counts the session on the operator's capacity.
func (s *Service) AcceptSession(ctx context.Context, cmd AcceptSession) (threadResult, error) {
	r, err := s.loadRoster(ctx, cmd.Instance.ID)
	if err != nil {
		return threadResult{}, err
	}
	op, found := r.Operator(cmd.OperatorID)
	if !found {
		return threadResult{}, domain.Errorf(domain.ErrOperatorNotFound, "no operator %d", cmd.OperatorID)
	}
	return s.changeThread(ctx, cmd.ThreadID, cmd.Context, func(t domain.Thread) ([]domain.Event, error) {
		return domain.DecideAccept(t, cmd.Instance.ID, op, cmd.Context.Actor)
	}, nil)
}

// SessionResult is a session command's outcome.
type SessionResult = threadResult

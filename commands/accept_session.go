package commands

import (
	"context"
	"time"

	"github.com/socialops/socialops/domain"
)

// AcceptSession is an operator taking a pending session (seed 003's accept).
type AcceptSession struct {
	Instance   domain.Instance
	ThreadID   string
	OperatorID int64
	Context    Context
}

// AcceptSession takes a pending session in two appends, each with its
// stream's revision:
//
//  1. the roster counts the session on the operator (refused when the
//     operator is full, or routing counted the session on someone else), so
//     capacity is never exceeded by an accept racing routing;
//  2. the thread takes SessionAccepted: of many concurrent accepts exactly
//     one finds the session pending; the others get ErrSessionWrongStatus.
//
// When step 2 fails the reservation is released again (unless the session
// went to this operator anyway).
func (s *Service) AcceptSession(ctx context.Context, cmd AcceptSession) (threadResult, error) {
	// Refuse early, without a reservation, what the thread refuses anyway.
	t, err := s.loadThread(ctx, cmd.ThreadID)
	if err != nil {
		return threadResult{}, err
	}
	r, err := s.loadRoster(ctx, cmd.Instance.ID)
	if err != nil {
		return threadResult{}, err
	}
	op, found := r.Operator(cmd.OperatorID)
	if !found {
		return threadResult{}, domain.Errorf(domain.ErrOperatorNotFound, "no operator %d", cmd.OperatorID)
	}
	if _, err := domain.DecideAccept(t, cmd.Instance.ID, op, cmd.Context.Actor); err != nil {
		return threadResult{}, err
	}

	r, reserved, _, err := s.changeRoster(ctx, cmd.Instance, cmd.Context, func(r domain.Roster) ([]domain.Event, error) {
		return domain.DecideAcceptReservation(r, cmd.ThreadID, cmd.OperatorID)
	})
	if err != nil {
		return threadResult{}, err
	}
	op, _ = r.Operator(cmd.OperatorID)
	res, err := s.changeThread(ctx, cmd.ThreadID, cmd.Context, func(t domain.Thread) ([]domain.Event, error) {
		return domain.DecideAccept(t, cmd.Instance.ID, op, cmd.Context.Actor)
	}, nil)
	if err != nil && len(reserved) > 0 {
		s.releaseReservation(ctx, cmd)
	}
	return res, err
}

// releaseReservation frees an accept's reservation after the thread refused
// the accept, unless the session is this operator's after all (routing gave
// it to them in between, counting it on the same reservation).
func (s *Service) releaseReservation(ctx context.Context, cmd AcceptSession) {
	// Not the request's context: a cancelled request must not leave the
	// capacity taken.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	if t, err := s.loadThread(ctx, cmd.ThreadID); err == nil && t.SessionStatus() == domain.StateManual && t.SessionOperator == cmd.OperatorID {
		return
	}
	_, _, _, err := s.changeRoster(ctx, cmd.Instance, cmd.Context, func(r domain.Roster) ([]domain.Event, error) {
		if held, ok := r.Holders[cmd.ThreadID]; !ok || held != cmd.OperatorID {
			return nil, nil
		}
		return []domain.Event{domain.OperatorSessionReleased{InstanceID: cmd.Instance.ID, OperatorID: cmd.OperatorID,
			ThreadID: cmd.ThreadID, Reason: domain.SessionReasonAcceptFailed}}, nil
	})
	if err != nil {
		// The routing sweep cannot see it: say so loudly.
		s.logger.Error("an accept's capacity reservation was not released", "thread_id", cmd.ThreadID,
			"operator_id", cmd.OperatorID, "error", err)
	}
}

const releaseTimeout = 10 * time.Second

// SessionResult is a session command's outcome.
type SessionResult = threadResult

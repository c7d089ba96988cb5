package commands

import (
	"context"
	"strconv"
	"strings"

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
	if err := s.checkAssignee(ctx, cmd.InstanceID, cmd.Changes.Assignee); err != nil {
		return UpdateResult{}, err
	}
	res, err := s.changeThread(ctx, cmd.ThreadID, cmd.Context, func(t domain.Thread) ([]domain.Event, error) {
		evs, err := domain.DecideThreadChanges(t, cmd.InstanceID, cmd.Changes)
		if err != nil {
			return nil, err
		}
		session, err := domain.SessionOnThreadChanges(t, evs, cmd.Context.Actor)
		return append(evs, session...), err
	}, nil)
	if err != nil {
		return UpdateResult{}, err
	}
	return UpdateResult{Thread: res.State, Events: res.Events, Position: res.Position}, nil
}

// checkAssignee refuses an assignee that is not an active operator of the
// instance (the assignee is an operator id; "" clears it).
func (s *Service) checkAssignee(ctx context.Context, instanceID string, assignee *string) error {
	if assignee == nil || strings.TrimSpace(*assignee) == "" {
		return nil
	}
	id, err := strconv.ParseInt(strings.TrimSpace(*assignee), 10, 64)
	if err != nil || id <= 0 {
		if domain.HasControl(*assignee) {
			return nil // DecideThreadChanges names the control character
		}
		return domain.Errorf(domain.ErrOperatorNotAssignable, "assignee must be the id of an active operator")
	}
	r, err := s.loadRoster(ctx, instanceID)
	if err != nil {
		return err
	}
	op, found := r.Operator(id)
	switch {
	case !found:
		return domain.Errorf(domain.ErrOperatorNotAssignable, "there is no operator %d", id)
	case op.Status == domain.OperatorInactive:
		return domain.Errorf(domain.ErrOperatorNotAssignable, "operator %d is inactive", id)
	case op.Status == domain.OperatorDeleted:
		return domain.Errorf(domain.ErrOperatorNotAssignable, "operator %d is deleted", id)
	}
	return nil
}

package commands

import (
	"context"

	"github.com/socialops/socialops/domain"
)

// ChangeOperator changes an operator's name, status, capacity or presence
// (any subset). The routing manager reacts to the events: an operator going
// inactive or deleted has its sessions queued again, one coming online or
// with more room gets sessions from the queue.
type ChangeOperator struct {
	Instance   domain.Instance
	OperatorID int64
	Changes    domain.OperatorChanges
	Context    Context
}

// OperatorResult is the operator after the change.
type OperatorResult struct {
	Operator domain.Operator
	Events   []domain.Event
	Position uint64
}

// ChangeOperator appends one event per field that changes.
func (s *Service) ChangeOperator(ctx context.Context, cmd ChangeOperator) (OperatorResult, error) {
	var after domain.Operator
	_, evs, pos, err := s.changeRoster(ctx, cmd.Instance, cmd.Context, func(r domain.Roster) ([]domain.Event, error) {
		evs, o, err := domain.DecideOperatorChanges(r, cmd.OperatorID, cmd.Changes)
		after = o
		return evs, err
	})
	if err != nil {
		return OperatorResult{}, err
	}
	return OperatorResult{Operator: after, Events: evs, Position: pos}, nil
}

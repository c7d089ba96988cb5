package commands

import (
	"context"

	"github.com/socialops/socialops/domain"
)

// CreateOperators adds operators to an instance. Dedupe is seed 004's
// synchronize: a name the instance has already answers that operator
// (also when the same names are posted twice at once: both appends expect
// the roster's revision, and the later one decides again on the roster that
// holds the earlier one's operators).
type CreateOperators struct {
	Instance domain.Instance
	Items    []domain.NewOperator
	Dedupe   bool
	Context  Context
}

// OperatorsResult is, per item, the operator it stands for.
type OperatorsResult struct {
	Operators []domain.Operator
	Position  uint64
}

// CreateOperators appends one OperatorCreated per new operator, in one append.
func (s *Service) CreateOperators(ctx context.Context, cmd CreateOperators) (OperatorsResult, error) {
	var out []domain.Operator
	_, _, pos, err := s.changeRoster(ctx, cmd.Instance, cmd.Context, func(r domain.Roster) ([]domain.Event, error) {
		evs, ops, err := domain.DecideCreateOperators(r, cmd.Items, cmd.Dedupe)
		out = ops
		return evs, err
	})
	if err != nil {
		return OperatorsResult{}, err
	}
	return OperatorsResult{Operators: out, Position: pos}, nil
}

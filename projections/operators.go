package projections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/socialops/socialops/domain"
)

// OperatorsProjector keeps operators: one row per operator with its status,
// capacity, presence and the sessions counted on it.
type OperatorsProjector struct{}

func (OperatorsProjector) Name() string     { return "operators" }
func (OperatorsProjector) Tables() []string { return []string{"operators"} }

var operatorTypes = typesOf(domain.OperatorCreated{}, domain.OperatorRenamed{}, domain.OperatorStatusChanged{},
	domain.OperatorCapacityChanged{}, domain.OperatorPresenceChanged{}, domain.OperatorSessionCounted{}, domain.OperatorSessionReleased{})

func (OperatorsProjector) Handles(t string) bool { return operatorTypes[t] }

func (OperatorsProjector) Apply(b *pgx.Batch, env domain.Envelope) error {
	at := occurredAt(env)
	switch e := env.Payload.(type) {
	case domain.OperatorCreated:
		queue(b, `INSERT INTO operators (instance_id, operator_id, name, status, capacity, presence, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT DO NOTHING`,
			e.InstanceID, e.OperatorID, e.Name, e.Status, e.Capacity, e.Presence, at)
	case domain.OperatorRenamed:
		queue(b, `UPDATE operators SET name = $3, updated_at = $4 WHERE instance_id = $1 AND operator_id = $2`, e.InstanceID, e.OperatorID, e.To, at)
	case domain.OperatorStatusChanged:
		queue(b, `UPDATE operators SET status = $3, updated_at = $4 WHERE instance_id = $1 AND operator_id = $2`, e.InstanceID, e.OperatorID, e.To, at)
	case domain.OperatorCapacityChanged:
		queue(b, `UPDATE operators SET capacity = $3, updated_at = $4 WHERE instance_id = $1 AND operator_id = $2`, e.InstanceID, e.OperatorID, e.To, at)
	case domain.OperatorPresenceChanged:
		queue(b, `UPDATE operators SET presence = $3, updated_at = $4 WHERE instance_id = $1 AND operator_id = $2`, e.InstanceID, e.OperatorID, e.To, at)
	case domain.OperatorSessionCounted:
		// A count moves the session off its previous holder, if any.
		queue(b, `UPDATE operators SET open_sessions = open_sessions + 1 WHERE instance_id = $1 AND operator_id = $2`, e.InstanceID, e.OperatorID)
		if e.FromOperator != 0 {
			queue(b, `UPDATE operators SET open_sessions = greatest(open_sessions - 1, 0) WHERE instance_id = $1 AND operator_id = $2`, e.InstanceID, e.FromOperator)
		}
	case domain.OperatorSessionReleased:
		queue(b, `UPDATE operators SET open_sessions = greatest(open_sessions - 1, 0) WHERE instance_id = $1 AND operator_id = $2`, e.InstanceID, e.OperatorID)
	}
	return nil
}

// OperatorView is an operator as the own API and the console show it.
type OperatorView struct {
	ID           int64     `json:"id"`
	Name         string    `json:"name"`
	Status       int       `json:"status"`
	Capacity     int       `json:"capacity"`
	Presence     string    `json:"presence"`
	OpenSessions int       `json:"open_sessions"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// OperatorFilter narrows a list of operators.
type OperatorFilter struct {
	InstanceID string
	Status     *int
	Presence   string
}

const operatorColumns = `operator_id, name, status, capacity, presence, open_sessions, created_at, updated_at`

func scanOperator(r pgx.CollectableRow) (OperatorView, error) {
	var o OperatorView
	err := r.Scan(&o.ID, &o.Name, &o.Status, &o.Capacity, &o.Presence, &o.OpenSessions, &o.CreatedAt, &o.UpdatedAt)
	o.CreatedAt, o.UpdatedAt = o.CreatedAt.UTC(), o.UpdatedAt.UTC()
	return o, err
}

// ListOperators returns an instance's operators by id.
func ListOperators(ctx context.Context, q Querier, f OperatorFilter) ([]OperatorView, error) {
	rows, err := q.Query(ctx, `SELECT `+operatorColumns+` FROM operators WHERE instance_id = $1
		AND ($2::int IS NULL OR status = $2) AND ($3 = '' OR presence = $3) ORDER BY operator_id`,
		f.InstanceID, f.Status, f.Presence)
	if err != nil {
		return nil, fmt.Errorf("list operators: %w", err)
	}
	return collect(rows, scanOperator)
}

// GetOperator returns one operator; found is false when there is none.
func GetOperator(ctx context.Context, q Querier, instanceID string, id int64) (OperatorView, bool, error) {
	rows, err := q.Query(ctx, `SELECT `+operatorColumns+` FROM operators WHERE instance_id = $1 AND operator_id = $2`, instanceID, id)
	if err != nil {
		return OperatorView{}, false, fmt.Errorf("get operator: %w", err)
	}
	o, err := pgx.CollectExactlyOneRow(rows, scanOperator)
	if errors.Is(err, pgx.ErrNoRows) {
		return OperatorView{}, false, nil
	}
	return o, err == nil, err
}

// Package projections holds the read side: one projector per read model
// (event → SQL, idempotent, checkpointed in the same transaction) and the
// query functions the HTTP layer serves from those tables. It imports domain/
// and pgx only; the Watermill runner that feeds it lives in adapters/.
package projections

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/socialops/socialops/domain"
)

// Projector turns events into rows of the tables it owns.
type Projector interface {
	// Name is the projector's checkpoint key and its name on the command line.
	Name() string
	// Tables lists the tables it owns, in creation order; rebuild and verify copy them.
	Tables() []string
	// Handles tells which event types Apply acts on; others are not even
	// decoded (a test checks it agrees with Apply).
	Handles(eventType string) bool
	// Apply queues the SQL that applies one event. The SQL uses unqualified
	// table names, so the same code fills the live tables or a rebuild's
	// shadow schema.
	Apply(b *pgx.Batch, env domain.Envelope) error
}

// eventTypes is a set of event type names.
type eventTypes map[string]bool

func typesOf(samples ...domain.Event) eventTypes {
	set := eventTypes{}
	for _, e := range samples {
		set[e.EventType()] = true
	}
	return set
}

// All returns every projector, in a fixed order.
func All() []Projector {
	return []Projector{InboxProjector{}, MessagesProjector{}, WalletProjector{}, ActionsProjector{}, ChannelsProjector{}}
}

// ByName finds a projector.
func ByName(name string) (Projector, bool) {
	for _, p := range All() {
		if p.Name() == name {
			return p, true
		}
	}
	return nil, false
}

// PoisonError is an event a projector cannot apply. The projector halts on it
// (never skips it) until a fix is deployed.
type PoisonError struct {
	Projector string
	Position  uint64
	EventType string
	Err       error
}

func (e *PoisonError) Error() string {
	return fmt.Sprintf("projector %s cannot apply %s at position %d: %v", e.Projector, e.EventType, e.Position, e.Err)
}

func (e *PoisonError) Unwrap() error { return e.Err }

// Hooks let tests stop a batch at a chosen point.
type Hooks struct {
	// BeforeCheckpoint runs after the read-model change was sent and before the
	// checkpoint is written; an error aborts the transaction.
	BeforeCheckpoint func(ctx context.Context, projector string) error
}

// ApplyBatch applies consecutive events and advances the checkpoint in one
// transaction. Events at or below the checkpoint are skipped, so a redelivered
// batch is a no-op. schema, when not empty, is a rebuild's shadow schema.
// It returns the checkpoint after the batch.
func ApplyBatch(ctx context.Context, pool *pgxpool.Pool, registry *domain.Registry, p Projector, events []domain.RecordedEvent, schema string, hooks Hooks) (uint64, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck
	if schema != "" {
		if err := useSchema(ctx, tx, schema); err != nil {
			return 0, err
		}
	}
	last, err := applyInTx(ctx, tx, registry, p, events, hooks)
	if err != nil {
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("commit %s: %w", p.Name(), err)
	}
	return last, nil
}

// useSchema points the transaction's unqualified table names at a shadow schema.
func useSchema(ctx context.Context, tx pgx.Tx, schema string) error {
	_, err := tx.Exec(ctx, "SELECT set_config('search_path', $1, true)", pgx.Identifier{schema}.Sanitize()+", public")
	return err
}

// applyInTx applies events after the checkpoint and advances it, inside tx.
func applyInTx(ctx context.Context, tx pgx.Tx, registry *domain.Registry, p Projector, events []domain.RecordedEvent, hooks Hooks) (uint64, error) {
	var checkpoint int64
	err := tx.QueryRow(ctx, `SELECT position FROM projection_checkpoints WHERE projector = $1 FOR UPDATE`, p.Name()).Scan(&checkpoint)
	if errors.Is(err, pgx.ErrNoRows) {
		if _, err := tx.Exec(ctx, `INSERT INTO projection_checkpoints (projector, position) VALUES ($1, 0) ON CONFLICT DO NOTHING`, p.Name()); err != nil {
			return 0, err
		}
		err = tx.QueryRow(ctx, `SELECT position FROM projection_checkpoints WHERE projector = $1 FOR UPDATE`, p.Name()).Scan(&checkpoint)
	}
	if err != nil {
		return 0, fmt.Errorf("read checkpoint of %s: %w", p.Name(), err)
	}
	b := &pgx.Batch{}
	last := uint64(checkpoint)
	for _, raw := range events {
		if raw.Position <= last {
			continue // already applied: redelivery is a no-op
		}
		if !registry.Knows(raw.Type) {
			// A type this build does not know halts every projector: it may matter to any of them.
			return 0, &PoisonError{Projector: p.Name(), Position: raw.Position, EventType: raw.Type, Err: &domain.UnknownEventTypeError{Type: raw.Type, Position: raw.Position}}
		}
		if !p.Handles(raw.Type) {
			last = raw.Position
			continue
		}
		env, err := registry.Decode(raw)
		if err != nil {
			return 0, &PoisonError{Projector: p.Name(), Position: raw.Position, EventType: raw.Type, Err: err}
		}
		if err := p.Apply(b, env); err != nil {
			return 0, &PoisonError{Projector: p.Name(), Position: raw.Position, EventType: raw.Type, Err: err}
		}
		last = raw.Position
	}
	if last == uint64(checkpoint) {
		return last, nil
	}
	if b.Len() > 0 {
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return 0, fmt.Errorf("projector %s at positions %d..%d: %w", p.Name(), events[0].Position, last, err)
		}
	}
	if hooks.BeforeCheckpoint != nil {
		if err := hooks.BeforeCheckpoint(ctx, p.Name()); err != nil {
			return 0, err
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE projection_checkpoints SET position = $2, updated_at = now() WHERE projector = $1`, p.Name(), int64(last)); err != nil {
		return 0, fmt.Errorf("write checkpoint of %s: %w", p.Name(), err)
	}
	return last, nil
}

// Checkpoint reads a projector's checkpoint (0 when it never ran).
func Checkpoint(ctx context.Context, q Querier, projector string) (uint64, error) {
	var pos int64
	err := q.QueryRow(ctx, `SELECT position FROM projection_checkpoints WHERE projector = $1`, projector).Scan(&pos)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return uint64(pos), nil
}

package projections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/socialops/socialops/domain"
)

// States of a parked event.
const (
	ParkedOpen     = "parked"   // not applied; waiting for an operator
	ParkedResolved = "resolved" // applied by a retry (or by a rebuild)
	ParkedSkipped  = "skipped"  // an operator decided it stays unapplied, with a reason
)

// Errors of the parked-event commands.
var (
	ErrParkedEventNotFound = &domain.Error{Code: "parked_event_not_found", Message: "no such parked event"}
	ErrParkedRetryFailed   = &domain.Error{Code: "parked_retry_failed", Message: "the parked event still cannot be applied"}
	ErrSkipNeedsReason     = &domain.Error{Code: "missing_field", Message: "skipping a parked event needs a reason"}
)

// maxParkedError bounds the stored error text.
const maxParkedError = 2000

// ParkedEvent is an event a projector could not apply because of its data.
// Its checkpoint went past it; the event stays in projection_parked until it
// is retried or skipped, and the row is kept afterwards for audit.
type ParkedEvent struct {
	Projector  string     `json:"projector"`
	Position   uint64     `json:"position"`
	EventID    string     `json:"event_id"`
	Stream     string     `json:"stream"`
	EventType  string     `json:"event_type"`
	Error      string     `json:"error"`
	State      string     `json:"state"`
	Attempts   int        `json:"attempts"`
	Reason     string     `json:"reason,omitempty"`
	ParkedAt   time.Time  `json:"parked_at"`
	ResolvedAt *time.Time `json:"resolved_at,omitempty"`
}

func parkedOf(p Projector, ev *pendingEvent) ParkedEvent {
	msg := ev.bad.Error()
	if len(msg) > maxParkedError {
		msg = msg[:maxParkedError]
	}
	return ParkedEvent{Projector: p.Name(), Position: ev.raw.Position, EventID: ev.raw.ID, Stream: ev.raw.StreamID,
		EventType: ev.raw.Type, Error: msg, State: ParkedOpen, Attempts: 1}
}

// park records parked events in the caller's transaction (the one that moves
// the checkpoint past them). Unqualified, so a rebuild parks in its shadow.
func park(ctx context.Context, tx pgx.Tx, evs []ParkedEvent) error {
	for _, e := range evs {
		if _, err := tx.Exec(ctx, `INSERT INTO projection_parked (projector, position, event_id, stream_name, event_type, error)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (projector, position) DO UPDATE SET error = EXCLUDED.error, attempts = projection_parked.attempts + 1`,
			e.Projector, int64(e.Position), e.EventID, e.Stream, e.EventType, e.Error); err != nil {
			return err
		}
	}
	return nil
}

const parkedColumns = `projector, position, event_id, stream_name, event_type, error, state, attempts, reason, parked_at, resolved_at`

func scanParked(row pgx.CollectableRow) (ParkedEvent, error) {
	var e ParkedEvent
	var pos int64
	err := row.Scan(&e.Projector, &pos, &e.EventID, &e.Stream, &e.EventType, &e.Error, &e.State, &e.Attempts, &e.Reason, &e.ParkedAt, &e.ResolvedAt)
	e.Position = uint64(pos)
	return e, err
}

// ListParked returns parked events in projector and position order: those
// still parked, or with all every state (resolved and skipped too). An empty
// projector means every projector.
func ListParked(ctx context.Context, q Querier, projector string, all bool) ([]ParkedEvent, error) {
	rows, err := q.Query(ctx, `SELECT `+parkedColumns+` FROM projection_parked
		WHERE ($1 = '' OR projector = $1) AND ($2 OR state = 'parked') ORDER BY projector, position`, projector, all)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanParked)
}

// ParkedCounts returns how many events each projector has parked (only
// projectors with some are listed).
func ParkedCounts(ctx context.Context, q Querier) (map[string]int, error) {
	rows, err := q.Query(ctx, `SELECT projector, count(*)::int FROM projection_parked WHERE state = 'parked' GROUP BY projector`)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	var name string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&name, &n}, func() error { out[name] = n; return nil })
	return out, err
}

// RetryParked applies a parked (or skipped) event again through its projector,
// now, after the events that followed it. On success the row is marked
// resolved; on failure it stays as it was, with the new error and one more
// attempt, and the error is returned. The live projector's checkpoint row is
// locked meanwhile, so the retry and the live projector never interleave.
func RetryParked(ctx context.Context, pool *pgxpool.Pool, src EventSource, registry *domain.Registry, p Projector, position uint64) error {
	evs, err := src.ReadAll(ctx, position-1, 1)
	if err != nil {
		return err
	}
	if len(evs) == 0 || evs[0].Position != position {
		return domain.Errorf(ErrParkedEventNotFound, "no event at position %d in the event store", position)
	}
	raw := evs[0]
	failure, err := retryInTx(ctx, pool, registry, p, raw)
	if err != nil {
		return err
	}
	if failure == nil {
		return nil
	}
	msg := failure.Error()
	if len(msg) > maxParkedError {
		msg = msg[:maxParkedError]
	}
	if _, err := pool.Exec(ctx, `UPDATE projection_parked SET error = $3, attempts = attempts + 1 WHERE projector = $1 AND position = $2`,
		p.Name(), int64(position), msg); err != nil {
		return err
	}
	return domain.Errorf(ErrParkedRetryFailed, "projector %s, position %d: %v", p.Name(), position, failure)
}

// retryInTx applies raw and resolves its parked row in one transaction. It
// returns the apply failure (the transaction rolled back), or an error of its own.
func retryInTx(ctx context.Context, pool *pgxpool.Pool, registry *domain.Registry, p Projector, raw domain.RecordedEvent) (failure, err error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck
	if _, err := tx.Exec(ctx, `SELECT position FROM projection_checkpoints WHERE projector = $1 FOR UPDATE`, p.Name()); err != nil {
		return nil, err
	}
	var state string
	err = tx.QueryRow(ctx, `SELECT state FROM projection_parked WHERE projector = $1 AND position = $2 FOR UPDATE`, p.Name(), int64(raw.Position)).Scan(&state)
	if errors.Is(err, pgx.ErrNoRows) || state == ParkedResolved {
		return nil, domain.Errorf(ErrParkedEventNotFound, "projector %s has no parked event at position %d", p.Name(), raw.Position)
	}
	if err != nil {
		return nil, err
	}
	if registry.Knows(raw.Type) && p.Handles(raw.Type) {
		env, err := registry.Decode(raw)
		if err != nil {
			return err, nil
		}
		b := &pgx.Batch{}
		if err := p.Apply(b, env); err != nil {
			return err, nil
		}
		queueFlush(b, p)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			if !IsDataError(err) {
				return nil, fmt.Errorf("retry %s at %d: %w", p.Name(), raw.Position, err)
			}
			return err, nil
		}
	} else if !registry.Knows(raw.Type) {
		return &domain.UnknownEventTypeError{Type: raw.Type, Position: raw.Position}, nil
	}
	if _, err := tx.Exec(ctx, `UPDATE projection_parked SET state = 'resolved', resolved_at = now(), reason = 'retried'
		WHERE projector = $1 AND position = $2`, p.Name(), int64(raw.Position)); err != nil {
		return nil, err
	}
	return nil, tx.Commit(ctx)
}

// SkipParked marks a parked event skipped: it stays unapplied, on purpose,
// and the row keeps the reason for audit.
func SkipParked(ctx context.Context, pool *pgxpool.Pool, projector string, position uint64, reason string) error {
	if reason == "" {
		return ErrSkipNeedsReason
	}
	tag, err := pool.Exec(ctx, `UPDATE projection_parked SET state = 'skipped', reason = $3, resolved_at = now()
		WHERE projector = $1 AND position = $2 AND state = 'parked'`, projector, int64(position), reason)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return domain.Errorf(ErrParkedEventNotFound, "projector %s has no parked event at position %d", projector, position)
	}
	return nil
}

package projections

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/socialops/socialops/domain"
)

// ErrStoreMismatch: the read side was built from another event store.
var ErrStoreMismatch = &domain.Error{Code: "event_store_mismatch", Message: "the read side was built from another event store"}

// BindStore ties the read side to the event store it is fed from. Checkpoints
// and parked events are positions, and aggregate snapshots are revisions, of
// one store: against another they would skip or repeat events, or decide on a
// state that store never had. The first call records the store's id; later
// calls with another id fail with ErrStoreMismatch, saying how to fix it.
func BindStore(ctx context.Context, pool *pgxpool.Pool, storeID string) error {
	if storeID == "" {
		return errors.New("bind the read side: empty event store id")
	}
	if _, err := pool.Exec(ctx, `INSERT INTO read_side_binding (id, store_id) VALUES (1, $1) ON CONFLICT (id) DO NOTHING`, storeID); err != nil {
		return fmt.Errorf("bind the read side: %w", err)
	}
	bound, err := BoundStore(ctx, pool)
	if err != nil {
		return err
	}
	if bound != storeID {
		return domain.Errorf(ErrStoreMismatch,
			"the read side (checkpoints, read models, parked events, aggregate snapshots) in this database was built from event store %s, "+
				"but the configured event store is %s; refusing to run, since positions of one store mean nothing in another. "+
				"Either point SOCIALOPS_EVENTSTORE_URL back at store %s, or stop every `socialops serve` on this database and run "+
				"`socialops projections rebind`, which clears the snapshots and rebuilds every projection from the configured store",
			bound, storeID, bound)
	}
	return nil
}

// BoundStore is the id of the store the read side is bound to ("" when none).
func BoundStore(ctx context.Context, q Querier) (string, error) {
	var bound string
	err := q.QueryRow(ctx, `SELECT store_id FROM read_side_binding WHERE id = 1`).Scan(&bound)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the read side's event store: %w", err)
	}
	return bound, nil
}

// Rebind empties the read side and binds it to storeID, in one transaction:
// every projector's tables, every checkpoint (the process managers' too:
// they start again from the beginning of the new store, which is safe, as
// their commands are idempotent), the parked events and the aggregate
// snapshots (a cache of the command side, keyed by revisions of the old
// store). Projectors then replay the new store from position 0.
func Rebind(ctx context.Context, pool *pgxpool.Pool, storeID string) error {
	if storeID == "" {
		return errors.New("rebind the read side: empty event store id")
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck
	tables := []string{"projection_checkpoints", "projection_parked", "aggregate_snapshots"}
	for _, p := range All() {
		tables = append(tables, p.Tables()...)
	}
	idents := ""
	for i, t := range tables {
		if i > 0 {
			idents += ", "
		}
		idents += pgx.Identifier{t}.Sanitize()
	}
	if _, err := tx.Exec(ctx, "TRUNCATE "+idents); err != nil {
		return fmt.Errorf("empty the read side: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO read_side_binding (id, store_id) VALUES (1, $1)
		ON CONFLICT (id) DO UPDATE SET store_id = EXCLUDED.store_id, bound_at = now()`, storeID); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

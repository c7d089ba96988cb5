package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Snapshots stores folded aggregate states (commands.SnapshotStore).
type Snapshots struct{ pool *pgxpool.Pool }

// NewSnapshots returns the snapshot store.
func NewSnapshots(pool *pgxpool.Pool) *Snapshots { return &Snapshots{pool: pool} }

// LoadSnapshot returns the stored state of a stream in the given schema.
func (s *Snapshots) LoadSnapshot(ctx context.Context, stream string, schema int) (int64, []byte, bool, error) {
	var version int64
	var state []byte
	err := s.pool.QueryRow(ctx, `SELECT version, state FROM aggregate_snapshots WHERE stream_name = $1 AND schema = $2`, stream, schema).Scan(&version, &state)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil, false, nil
	}
	if err != nil {
		return 0, nil, false, fmt.Errorf("load snapshot of %s: %w", stream, err)
	}
	return version, state, true, nil
}

// SaveSnapshot stores a state unless a newer one is stored already.
func (s *Snapshots) SaveSnapshot(ctx context.Context, stream string, schema int, version int64, state []byte) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO aggregate_snapshots (stream_name, schema, version, state) VALUES ($1, $2, $3, $4)
		ON CONFLICT (stream_name) DO UPDATE SET schema = EXCLUDED.schema, version = EXCLUDED.version, state = EXCLUDED.state, updated_at = now()
		WHERE aggregate_snapshots.schema <> EXCLUDED.schema OR aggregate_snapshots.version < EXCLUDED.version`, stream, schema, version, state)
	if err != nil {
		return fmt.Errorf("save snapshot of %s: %w", stream, err)
	}
	return nil
}

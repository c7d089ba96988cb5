package projections_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	pgstore "github.com/socialops/socialops/adapters/eventstore/postgres"
	"github.com/socialops/socialops/adapters/postgres/pgtest"
	"github.com/socialops/socialops/projections"
)

// Bound to store A, the read side refuses store B, naming both; rebinding
// to B empties it (snapshots included) and then B is fine.
func TestReadSideIsBoundToOneEventStore(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	storeA := pgstore.New(pool, nil)
	t.Cleanup(func() { _ = storeA.Close() })
	storeB := pgstore.New(pgtest.NewPool(t), nil)
	t.Cleanup(func() { _ = storeB.Close() })
	idA, err := storeA.Identity(ctx)
	require.NoError(t, err)
	idB, err := storeB.Identity(ctx)
	require.NoError(t, err)
	require.NotEqual(t, idA, idB)

	require.NoError(t, projections.BindStore(ctx, pool, idA))
	require.NoError(t, projections.BindStore(ctx, pool, idA), "the same store again")
	_, err = pool.Exec(ctx, `INSERT INTO projection_checkpoints (projector, position) VALUES ('inbox', 42)`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO aggregate_snapshots (stream_name, schema, version, state) VALUES ('thread-x', 1, 5, '\x00')`)
	require.NoError(t, err)

	err = projections.BindStore(ctx, pool, idB)
	require.ErrorIs(t, err, projections.ErrStoreMismatch)
	assert.Contains(t, err.Error(), idA)
	assert.Contains(t, err.Error(), idB)
	assert.Contains(t, err.Error(), "projections rebind")

	require.NoError(t, projections.Rebind(ctx, pool, idB))
	require.NoError(t, projections.BindStore(ctx, pool, idB))
	assert.ErrorIs(t, projections.BindStore(ctx, pool, idA), projections.ErrStoreMismatch)
	cp, err := projections.Checkpoint(ctx, pool, "inbox")
	require.NoError(t, err)
	assert.Zero(t, cp)
	var snapshots int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM aggregate_snapshots`).Scan(&snapshots))
	assert.Zero(t, snapshots)
}

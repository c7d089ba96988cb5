package main

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/postgres/pgtest"
)

// A read side built from one event store refuses to run against another,
// naming both and the fix; the same store is fine; rebind fixes it.
func TestReadSideRefusesAnotherEventStore(t *testing.T) {
	db := pgtest.NewDatabase(t)
	envm := map[string]string{"SOCIALOPS_DATABASE_URL": db}
	code, _, stderr := runCLI(envm, "projections", "status")
	require.Equal(t, 0, code, stderr)
	code, _, stderr = runCLI(envm, "projections", "status")
	require.Equal(t, 0, code, "the same store again: %s", stderr)

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var storeA string
	require.NoError(t, conn.QueryRow(ctx, `SELECT store_id FROM event_store_identity`).Scan(&storeA))
	var bound string
	require.NoError(t, conn.QueryRow(ctx, `SELECT store_id FROM read_side_binding`).Scan(&bound))
	assert.Equal(t, storeA, bound, "bound on first use")

	// As if the read side had been built from a KurrentDB store before.
	_, err = conn.Exec(ctx, `UPDATE read_side_binding SET store_id = 'kurrentdb-other-store'`)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `INSERT INTO aggregate_snapshots (stream_name, schema, version, state) VALUES ('thread-x', 1, 5, '\x00')`)
	require.NoError(t, err)
	for _, args := range [][]string{{"projections", "status"}, {"serve"}, {"projections", "rebuild", "inbox"}} {
		code, _, stderr = runCLI(map[string]string{"SOCIALOPS_DATABASE_URL": db, "SOCIALOPS_HTTP_ADDR": freeAddr(t)}, args...)
		assert.Equal(t, 1, code, "%v refused", args)
		assert.Contains(t, stderr, "kurrentdb-other-store", args)
		assert.Contains(t, stderr, storeA, args)
		assert.Contains(t, stderr, "projections rebind", args)
	}

	code, stdout, stderr := runCLI(envm, "projections", "rebind")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, storeA)
	var snapshots int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM aggregate_snapshots`).Scan(&snapshots))
	assert.Zero(t, snapshots, "snapshots of the other store are gone")
	code, _, stderr = runCLI(envm, "projections", "status")
	assert.Equal(t, 0, code, stderr)
}

package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/postgres/pgtest"
)

func doctorRun(t *testing.T, envm map[string]string, args ...string) (int, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), append([]string{"doctor"}, args...), env(envm), &out, &errOut)
	return code, out.String() + errOut.String()
}

func TestDoctor(t *testing.T) {
	envm := map[string]string{
		"SOCIALOPS_DATABASE_URL": pgtest.NewDatabase(t),
		"SOCIALOPS_HTTP_ADDR":    freeAddr(t),
		"SOCIALOPS_LOG_LEVEL":    "warn",
		"SOCIALOPS_JWT_SECRET":   "doctor-test-secret-0123456789abcdef",
	}
	code, out := doctorRun(t, envm)
	assert.Equal(t, 0, code, out)
	assert.Regexp(t, `ok\s+migrations`, out)
	assert.Regexp(t, `ok\s+event store`, out)
	assert.Contains(t, out, "no problems found")

	// Events the followers have not applied (no server runs): a problem once
	// older than --max-lag, with the way out.
	cli(t, envm, "instance", "create", "--owner", "u", "--alias", "support")
	cli(t, envm, "wallet", "credit", "--owner", "u", "--micro-usd", "1000")
	code, out = doctorRun(t, envm, "--max-lag", "1ns")
	assert.Equal(t, 1, code, out)
	assert.Regexp(t, `FAIL\s+follower wallet`, out)
	assert.Contains(t, out, "is `socialops serve` running?")

	assert.Regexp(t, `warn\s+role inbox\s+no process holds it`, out)

	// The server applies them: all well again, and it holds every role.
	_, stop := startServe(t, envm)
	require.Eventually(t, func() bool { c, _ := doctorRun(t, envm, "--max-lag", "1ns"); return c == 0 }, 20e9, 100e6)
	_, out = doctorRun(t, envm)
	assert.Regexp(t, `ok\s+role delivery\s+held by `, out)
	assert.Equal(t, 0, stop())

	pool, err := pgxpool.New(context.Background(), envm["SOCIALOPS_DATABASE_URL"])
	require.NoError(t, err)
	defer pool.Close()
	code, out = doctorRun(t, envm)
	assert.Regexp(t, `ok\s+read side binding\s+built from this event store`, out)

	// An event a projector parked.
	_, err = pool.Exec(context.Background(), `INSERT INTO projection_parked (projector, position, event_id, stream_name, event_type, error)
		VALUES ('inbox', 1, 'e', 's', 'T', 'invalid input')`)
	require.NoError(t, err)
	code, out = doctorRun(t, envm)
	assert.Equal(t, 1, code, out)
	assert.Regexp(t, `FAIL\s+parked events\s+inbox has 1 event\(s\) it could not apply`, out)
	assert.Contains(t, out, "projections retry inbox POS")
	_, err = pool.Exec(context.Background(), `UPDATE projection_parked SET state = 'skipped'`)
	require.NoError(t, err)

	// A read side bound to another store.
	_, err = pool.Exec(context.Background(), `UPDATE read_side_binding SET store_id = 'another-store'`)
	require.NoError(t, err)
	code, out = doctorRun(t, envm)
	assert.Equal(t, 1, code, out)
	assert.Contains(t, out, "FAIL read side binding")
	assert.Contains(t, out, "projections rebind")
	_, err = pool.Exec(context.Background(), `UPDATE read_side_binding SET store_id = (SELECT store_id FROM event_store_identity LIMIT 1)`)
	require.NoError(t, err)
	code, out = doctorRun(t, envm)
	require.Equal(t, 0, code, out)

	// A migration not applied.
	_, err = pool.Exec(context.Background(), `DELETE FROM goose_db_version WHERE version_id = (SELECT max(version_id) FROM goose_db_version)`)
	require.NoError(t, err)
	code, out = doctorRun(t, envm)
	assert.Equal(t, 1, code, out)
	assert.Contains(t, out, "FAIL migrations")
	assert.Contains(t, out, "run `socialops migrate`")
}

func TestDoctorReportsConfigurationAndDatabase(t *testing.T) {
	code, out := doctorRun(t, map[string]string{"SOCIALOPS_DATABASE_URL": "postgres://nobody@127.0.0.1:1/none?sslmode=disable", "SOCIALOPS_MAX_BODY_BYTES": "lots"})
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "FAIL configuration")
	assert.Contains(t, out, "SOCIALOPS_MAX_BODY_BYTES")

	code, out = doctorRun(t, map[string]string{"SOCIALOPS_DATABASE_URL": "postgres://nobody@127.0.0.1:1/none?sslmode=disable"})
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "FAIL database")
	assert.Contains(t, out, "SOCIALOPS_DATABASE_URL")
}

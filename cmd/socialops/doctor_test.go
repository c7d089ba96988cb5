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
	assert.Contains(t, out, "ok   migrations")
	assert.Contains(t, out, "ok   event store")
	assert.Contains(t, out, "no problems found")

	// Events the followers have not applied (no server runs): a problem once
	// older than --max-lag, with the way out.
	cli(t, envm, "instance", "create", "--owner", "u", "--alias", "support")
	cli(t, envm, "wallet", "credit", "--owner", "u", "--micro-usd", "1000")
	code, out = doctorRun(t, envm, "--max-lag", "1ns")
	assert.Equal(t, 1, code, out)
	assert.Contains(t, out, "FAIL follower wallet")
	assert.Contains(t, out, "is `socialops serve` running?")

	// The server applies them: all well again.
	_, stop := startServe(t, envm)
	require.Eventually(t, func() bool { c, _ := doctorRun(t, envm, "--max-lag", "1ns"); return c == 0 }, 20e9, 100e6)
	assert.Equal(t, 0, stop())

	// A migration not applied.
	pool, err := pgxpool.New(context.Background(), envm["SOCIALOPS_DATABASE_URL"])
	require.NoError(t, err)
	defer pool.Close()
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

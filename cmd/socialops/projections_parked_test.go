package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	pgstore "github.com/socialops/socialops/adapters/eventstore/postgres"
	"github.com/socialops/socialops/adapters/postgres/pgtest"
	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

// Parked events show in `projections status` and `projections parked`, and
// are skipped (with a reason) or retried from the command line.
func TestParkedEventsOnTheCommandLine(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDatabase(t)
	envm := map[string]string{"SOCIALOPS_DATABASE_URL": db}
	code, _, stderr := runCLI(envm, "projections", "status") // migrates and binds
	require.Equal(t, 0, code, stderr)

	pool, err := pgxpool.New(ctx, db)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	store := pgstore.New(pool, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(func() { _ = store.Close() })
	res, err := store.Append(ctx, "thread-soth_poison", domain.AnyRevision(), domain.ProposedEvent{
		ID: domain.RandomUUID(domain.CryptoRandom), Type: "ThreadTeleported", Data: []byte(`{}`), Metadata: []byte(`{}`)})
	require.NoError(t, err)
	evs, err := store.ReadAll(ctx, 0, 10)
	require.NoError(t, err)
	inbox, _ := projections.ByName("inbox")
	_, err = projections.ApplyBatch(ctx, pool, domain.NewEventRegistry(), inbox, evs, "", projections.Hooks{})
	require.NoError(t, err)
	pos := fmt.Sprint(res.Position)

	code, stdout, stderr := runCLI(envm, "projections", "status")
	require.Equal(t, 0, code, stderr)
	assert.Regexp(t, `inbox\s+free\s+-\s+-\s+-\s+`+pos+`\s+`+pos+`\s+0\s+1\n`, stdout)
	assert.Contains(t, stdout, "1 parked event(s)")
	assert.Regexp(t, `inbox\s+`+pos+`\s+parked\s+ThreadTeleported`, stdout)

	code, stdout, stderr = runCLI(envm, "projections", "parked", "inbox")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "thread-soth_poison")
	assert.Contains(t, stdout, "unknown event type")

	code, _, stderr = runCLI(envm, "projections", "retry", "inbox", pos)
	assert.Equal(t, 1, code, "still unknown to this build")
	assert.Contains(t, stderr, "parked_retry_failed")
	code, _, stderr = runCLI(envm, "projections", "skip", "inbox", pos)
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "--reason")
	code, stdout, stderr = runCLI(envm, "projections", "skip", "inbox", pos, "--reason", "written by a test")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "skipped")

	code, stdout, _ = runCLI(envm, "projections", "parked")
	require.Equal(t, 0, code)
	assert.NotContains(t, stdout, "ThreadTeleported", "nothing left parked")
	code, stdout, _ = runCLI(envm, "projections", "parked", "--all")
	require.Equal(t, 0, code)
	assert.Regexp(t, `skipped\s+ThreadTeleported.*written by a test`, stdout)
	code, stdout, _ = runCLI(envm, "projections", "status")
	require.Equal(t, 0, code)
	assert.NotContains(t, stdout, "parked event(s)")
}

package projections_test

// A live projector batch is one round trip that commits without waiting for
// the disk; a batch that does not follow its checkpoint, or whose SQL fails,
// takes the careful path and leaves the rows one event at a time would.

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/postgres/pgtest"
	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

// roundTrips counts what a pool sends: queries on their own and batches.
type roundTrips struct {
	mu      sync.Mutex
	queries []string
	batches int
	batched []string // the statements of the batches
}

func (r *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	r.mu.Lock()
	r.queries = append(r.queries, d.SQL)
	r.mu.Unlock()
	return ctx
}

func (r *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (r *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.mu.Lock()
	r.batches++
	r.mu.Unlock()
	return ctx
}

func (r *roundTrips) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	r.mu.Lock()
	r.batched = append(r.batched, d.SQL)
	r.mu.Unlock()
}
func (r *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// take returns the counts so far and starts again.
func (r *roundTrips) take() (queries []string, batches int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	queries, batches = r.queries, r.batches
	r.queries, r.batches, r.batched = nil, 0, nil
	return queries, batches
}

// statements returns the statements batches sent since the last take.
func (r *roundTrips) statements() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.batched...)
}

// tracedPool is a pool on a fresh database whose round trips rt counts.
func tracedPool(t *testing.T, rt *roundTrips) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(pgtest.NewDatabase(t))
	require.NoError(t, err)
	cfg.ConnConfig.Tracer = rt
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

// commitModes is the inbox projector that also records, for each event it
// applies, the synchronous_commit its transaction runs with.
type commitModes struct{ projections.InboxProjector }

func (c commitModes) Apply(b *pgx.Batch, env domain.Envelope) error {
	if err := c.InboxProjector.Apply(b, env); err != nil {
		return err
	}
	b.Queue(`INSERT INTO commit_modes (mode) VALUES (current_setting('synchronous_commit'))`)
	return nil
}

// Merge is off, so that every event goes through Apply.
func (commitModes) Merge(*pgx.Batch, []domain.Envelope) (int, error) { return 0, nil }

func conversation(thread string) []domain.Event {
	return []domain.Event{
		domain.ThreadOpened{ThreadID: thread, InstanceID: "i-1", OwnerID: "o-1", Provider: "telegram", Status: "open", Priority: "normal"},
		domain.InboundMessageReceived{ThreadID: thread, Provider: "telegram", Text: "hello"},
		domain.InboundMessageReceived{ThreadID: thread, Provider: "telegram", Text: "again"},
	}
}

func TestALiveBatchIsOneRoundTripThatDoesNotWaitForTheDisk(t *testing.T) {
	ctx := context.Background()
	reg := domain.NewEventRegistry()
	rt := &roundTrips{}
	pool := tracedPool(t, rt)
	_, err := pool.Exec(ctx, `CREATE TABLE commit_modes (mode text NOT NULL)`)
	require.NoError(t, err)
	p := commitModes{}
	at := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	modes := func() []string {
		var out []string
		rows, err := pool.Query(ctx, `SELECT mode FROM commit_modes`)
		require.NoError(t, err)
		out, err = pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		_, err = pool.Exec(ctx, `DELETE FROM commit_modes`)
		require.NoError(t, err)
		return out
	}

	// The first batch finds no checkpoint: the careful path makes it.
	res, err := projections.ApplyBatch(ctx, pool, reg, p, recorded(t, reg, 1, at, conversation("t-1")...), "", projections.Hooks{})
	require.NoError(t, err)
	assert.Equal(t, uint64(3), res.Position)
	queries, _ := rt.take()
	assert.NotEmpty(t, queries, "a first run reads and makes the checkpoint")
	assert.Equal(t, []string{"off", "off", "off"}, modes(), "the careful path of the live log commits asynchronously too")
	rt.take()

	// Every batch after it follows the checkpoint: one batch, no query on
	// its own, committed asynchronously.
	for i, thread := range []string{"t-2", "t-3", "t-4"} {
		res, err := projections.ApplyBatch(ctx, pool, reg, p, recorded(t, reg, uint64(4+3*i), at, conversation(thread)...), "", projections.Hooks{})
		require.NoError(t, err)
		assert.Equal(t, uint64(6+3*i), res.Position)
		assert.NoError(t, res.BatchFailure)
		sent := strings.Join(rt.statements(), ";\n")
		assert.Contains(t, sent, "projection_batch_advance", "the claim moves the checkpoint")
		assert.NotContains(t, sent, "UPDATE projection_checkpoints", "the checkpoint is written once per batch")
		queries, batches := rt.take()
		assert.Empty(t, queries, "a live batch sends no query on its own")
		assert.Equal(t, 1, batches, "a live batch is one round trip")
		assert.Equal(t, []string{"off", "off", "off"}, modes())
		rt.take()
	}
	var threads, messages int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*), sum(message_count) FROM inbox_threads`).Scan(&threads, &messages))
	assert.Equal(t, 4, threads)
	assert.Equal(t, 8, messages)
	cp, err := projections.Checkpoint(ctx, pool, p.Name())
	require.NoError(t, err)
	assert.Equal(t, uint64(12), cp)

	// A batch with nothing for the projector only moves its checkpoint: one
	// round trip too, not waiting for the disk either.
	charge := domain.ChargeApplied{ChargeID: "ch-1", OwnerID: "o-1", AmountMicroUSD: 1, Reason: domain.ChargeInboundMessage}
	rt.take()
	res, err = projections.ApplyBatch(ctx, pool, reg, p, recorded(t, reg, 13, at, charge, charge), "", projections.Hooks{})
	require.NoError(t, err)
	assert.Equal(t, uint64(14), res.Position)
	sent := rt.statements()
	queries, batches := rt.take()
	assert.Empty(t, queries)
	assert.Equal(t, 1, batches)
	assert.Contains(t, sent, "SET LOCAL synchronous_commit TO off")
	cp, err = projections.Checkpoint(ctx, pool, p.Name())
	require.NoError(t, err)
	assert.Equal(t, uint64(14), cp)
}

// A batch that does not start right after the checkpoint (a redelivery, or
// another process ahead) or whose SQL fails is applied the careful way: the
// refused or failed pipelined batch leaves nothing, and the rows are those
// one event per batch leaves.
func TestALiveBatchOffItsCheckpointOrFailingTakesTheCarefulPath(t *testing.T) {
	ctx := context.Background()
	reg := domain.NewEventRegistry()
	at := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	history := append(append(conversation("t-1"), conversation("t-2")...), conversation("t-3")...)
	evs := recorded(t, reg, 1, at, history...)

	rt := &roundTrips{}
	pool, single := tracedPool(t, rt), pgtest.NewPool(t)
	for _, ev := range evs {
		_, err := projections.ApplyBatch(ctx, single, reg, projections.InboxProjector{}, []domain.RecordedEvent{ev}, "", projections.Hooks{})
		require.NoError(t, err)
	}

	apply := func(p projections.Projector, from, to int) projections.BatchResult {
		t.Helper()
		res, err := projections.ApplyBatch(ctx, pool, reg, p, evs[from-1:to], "", projections.Hooks{})
		require.NoError(t, err)
		assert.Equal(t, uint64(to), res.Position)
		return res
	}
	apply(projections.InboxProjector{}, 1, 3)
	rt.take()

	// Redelivered with what follows: the claim is refused, the careful
	// path reads the checkpoint and applies only events 4..5.
	apply(projections.InboxProjector{}, 2, 5)
	queries, _ := rt.take()
	assert.Contains(t, strings.Join(queries, ";"), "FOR UPDATE", "the careful path read the checkpoint")

	// A merged statement that fails: the pipelined batch is rolled back and
	// the careful path applies every event and says why.
	res := apply(brokenMerge{}, 6, 9)
	require.Error(t, res.BatchFailure)
	assert.Contains(t, res.BatchFailure.Error(), "division by zero")
	assert.Empty(t, res.Parked)

	assert.Equal(t, tablesOf(t, single, projections.InboxProjector{}), tablesOf(t, pool, projections.InboxProjector{}))
}

// projection_batch_advance moves a checkpoint only from where the batch
// expects it, and holds the row to the commit: a second applier of the same
// batch waits, and is refused once the first commits (SO001), or goes on if
// the first rolled back.
func TestTheBatchAdvanceIsAClaim(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	_, err := pool.Exec(ctx, `INSERT INTO projection_checkpoints (projector, position) VALUES ('p', 10)`)
	require.NoError(t, err)
	position := func() int64 {
		var pos int64
		require.NoError(t, pool.QueryRow(ctx, `SELECT position FROM projection_checkpoints WHERE projector = 'p'`).Scan(&pos))
		return pos
	}
	refused := func(err error) bool { return err != nil && strings.Contains(err.Error(), "SO001") }

	_, err = pool.Exec(ctx, `SELECT projection_batch_advance('p', 9, 12)`)
	assert.True(t, refused(err), "off its checkpoint: %v", err)
	_, err = pool.Exec(ctx, `SELECT projection_batch_advance('other', 0, 12)`)
	assert.True(t, refused(err), "a projector that never ran: %v", err)
	assert.Equal(t, int64(10), position())

	for _, firstCommits := range []bool{true, false} {
		first, err := pool.Begin(ctx)
		require.NoError(t, err)
		_, err = first.Exec(ctx, `SELECT projection_batch_advance('p', 10, 12)`)
		require.NoError(t, err)

		second := make(chan error, 1)
		go func() {
			tx, err := pool.Begin(ctx)
			if err != nil {
				second <- err
				return
			}
			defer tx.Rollback(ctx) //nolint:errcheck
			_, err = tx.Exec(ctx, `SELECT projection_batch_advance('p', 10, 12)`)
			if err == nil {
				err = tx.Commit(ctx)
			}
			second <- err
		}()
		select {
		case err := <-second:
			t.Fatalf("the second applier did not wait for the first: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
		if firstCommits {
			require.NoError(t, first.Commit(ctx))
			assert.True(t, refused(<-second), "the second applier of a committed batch is refused")
			assert.Equal(t, int64(12), position())
			_, err = pool.Exec(ctx, `UPDATE projection_checkpoints SET position = 10 WHERE projector = 'p'`)
			require.NoError(t, err)
			continue
		}
		require.NoError(t, first.Rollback(ctx))
		assert.NoError(t, <-second, "after a rollback the second applier goes on")
		assert.Equal(t, int64(12), position())
	}
}

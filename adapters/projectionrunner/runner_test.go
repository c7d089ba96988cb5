package projectionrunner_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	pgstore "github.com/socialops/socialops/adapters/eventstore/postgres"
	"github.com/socialops/socialops/adapters/postgres/pgtest"
	"github.com/socialops/socialops/adapters/projectionrunner"
	"github.com/socialops/socialops/commands"
	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

type fixture struct {
	pool     *pgxpool.Pool
	store    *pgstore.Store
	registry *domain.Registry
	commands *commands.Service
	logger   *slog.Logger
}

func newFixture(t *testing.T) *fixture {
	pool := pgtest.NewPool(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := pgstore.New(pool, logger)
	t.Cleanup(func() { _ = store.Close() })
	reg := domain.NewEventRegistry()
	return &fixture{pool: pool, store: store, registry: reg, logger: logger,
		commands: commands.NewService(store, reg, commands.Options{Logger: logger})}
}

// ingest writes n inbound messages over a few threads and instances, plus credits.
func (f *fixture) ingest(t *testing.T, from, n int) uint64 {
	ctx := context.Background()
	var last uint64
	for i := from; i < from+n; i++ {
		inst := domain.Instance{ID: fmt.Sprintf("soinst_%d", i%3), Alias: fmt.Sprintf("a%d", i%3), OwnerID: fmt.Sprintf("owner-%d", i%3)}
		res, err := f.commands.IngestWebhook(ctx, commands.IngestWebhook{
			Instance: inst,
			Message: domain.InboundMessage{
				Provider: domain.ProviderGenericWebhook, ProviderEventID: fmt.Sprintf("e%d", i), ExternalThreadID: fmt.Sprintf("t%d", i%7),
				Subject: fmt.Sprintf("subject %d", i%7), MessageType: domain.MessageText, Text: fmt.Sprintf("message %d", i),
				Sender: domain.Sender{DisplayName: "monitor"}, Labels: []string{fmt.Sprintf("l%d", i%4)},
			},
			RawPayload: []byte(`{}`),
			Context:    commands.Context{Actor: domain.Actor{Kind: domain.ActorSystem, ID: "test"}},
		})
		require.NoError(t, err)
		last = res.Position
		if i%10 == 0 {
			c, err := f.commands.CreditWallet(ctx, commands.CreditWallet{OwnerID: inst.OwnerID, AmountMicroUSD: 1000})
			require.NoError(t, err)
			last = c.Position
		}
	}
	return last
}

func (f *fixture) run(t *testing.T, opts projectionrunner.Options) (*projectionrunner.Runner, context.CancelFunc, chan error) {
	opts.Logger = f.logger
	r := projectionrunner.New(f.pool, f.store, f.registry, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return r, cancel, done
}

func waitCheckpoints(t *testing.T, f *fixture, pos uint64) {
	names := []string{}
	for _, p := range projections.All() {
		names = append(names, p.Name())
	}
	fresh, err := projections.WaitForPosition(context.Background(), f.pool, names, pos, 20*time.Second)
	require.NoError(t, err)
	require.True(t, fresh, "projectors reached %d", pos)
}

func verifyAll(t *testing.T, f *fixture) {
	for _, p := range projections.All() {
		diffs, err := projections.Verify(context.Background(), f.pool, f.store, f.registry, p, 5)
		require.NoError(t, err)
		assert.Empty(t, diffs, "projector %s equals a fresh rebuild", p.Name())
	}
}

func TestStoppedBetweenWriteAndCheckpointEndsLikeARebuild(t *testing.T) {
	f := newFixture(t)
	head := f.ingest(t, 0, 60)

	// The first runner is cancelled inside its third batch's transaction, after
	// the read-model change was sent and before the checkpoint was written.
	var calls atomic.Int32
	firstCtx, cancelFirst := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	first := projectionrunner.New(f.pool, f.store, f.registry, projectionrunner.Options{Logger: f.logger, Hooks: projections.Hooks{
		BeforeCheckpoint: func(ctx context.Context, projector string) error {
			if projector == "inbox" && calls.Add(1) == 1 {
				cancelFirst()
				close(stopped)
				<-ctx.Done()
				return ctx.Err()
			}
			return nil
		},
	}})
	done := make(chan error, 1)
	go func() { done <- first.Run(firstCtx) }()
	<-stopped
	require.NoError(t, <-done)

	// Nothing of the cancelled batch stayed: the inbox checkpoint did not move
	// past what its rows show.
	cp, err := projections.Checkpoint(context.Background(), f.pool, "inbox")
	require.NoError(t, err)
	assert.Less(t, cp, head)

	// More events arrive while it is down; a fresh runner resumes and ends
	// identical to a rebuild.
	head = f.ingest(t, 60, 20)
	f.run(t, projectionrunner.Options{})
	waitCheckpoints(t, f, head)
	verifyAll(t, f)

	var count int
	require.NoError(t, f.pool.QueryRow(context.Background(), `SELECT sum(message_count) FROM inbox_threads`).Scan(&count))
	assert.Equal(t, 80, count, "every message counted exactly once")
}

func TestVerifyCatchesAlteredRowAndRebuildRepairsIt(t *testing.T) {
	f := newFixture(t)
	head := f.ingest(t, 0, 30)
	f.run(t, projectionrunner.Options{})
	waitCheckpoints(t, f, head)
	verifyAll(t, f)

	ctx := context.Background()
	_, err := f.pool.Exec(ctx, `UPDATE inbox_threads SET subject = 'tampered' WHERE thread_id = (SELECT min(thread_id) FROM inbox_threads)`)
	require.NoError(t, err)
	_, err = f.pool.Exec(ctx, `UPDATE wallet_balances SET balance_micro_usd = balance_micro_usd + 1 WHERE owner_id = 'owner-0'`)
	require.NoError(t, err)

	inbox, _ := projections.ByName("inbox")
	diffs, err := projections.Verify(ctx, f.pool, f.store, f.registry, inbox, 5)
	require.NoError(t, err)
	require.Len(t, diffs, 2, "the altered row, as it is and as it should be")
	sides := map[string]string{}
	for _, d := range diffs {
		assert.Equal(t, "inbox_threads", d.Table)
		sides[d.Side] = d.Row
	}
	assert.Contains(t, sides["only_in_live"], "tampered")
	assert.NotContains(t, sides["only_in_rebuild"], "tampered")
	wallet, _ := projections.ByName("wallet")
	diffs, err = projections.Verify(ctx, f.pool, f.store, f.registry, wallet, 5)
	require.NoError(t, err)
	assert.NotEmpty(t, diffs)

	// Rebuild replaces the tables while the runner keeps going; the result verifies clean.
	for _, p := range []projections.Projector{inbox, wallet} {
		res, err := projections.Rebuild(ctx, f.pool, f.store, f.registry, p)
		require.NoError(t, err)
		assert.Greater(t, res.Events, 0)
	}
	head = f.ingest(t, 30, 10)
	waitCheckpoints(t, f, head)
	verifyAll(t, f)

	// The swapped-in tables keep the index names the migrations gave them.
	var n int
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT count(*) FROM pg_indexes WHERE schemaname = 'public' AND indexname IN
		('inbox_threads_pkey', 'inbox_threads_recent_search', 'inbox_threads_status_priority', 'inbox_threads_provider')`).Scan(&n))
	assert.Equal(t, 4, n)
	var leftovers int
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'shadow_%'`).Scan(&leftovers))
	assert.Zero(t, leftovers, "shadow schemas are dropped")
}

// An event of a type this build does not know is parked by every projector
// (it may matter to any of them), visibly, and everything after it applies;
// a rebuild parks it again rather than failing.
func TestUnknownEventTypeIsParkedAndTheRestApplies(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.ingest(t, 0, 3)
	poisonRes, err := f.store.Append(ctx, "thread-soth_poison", domain.AnyRevision(), domain.ProposedEvent{
		ID: domain.RandomUUID(domain.CryptoRandom), Type: "ThreadTeleported", Data: []byte(`{}`), Metadata: []byte(`{}`),
	})
	require.NoError(t, err)
	after := f.ingest(t, 3, 3)

	r, _, _ := f.run(t, projectionrunner.Options{})
	waitCheckpoints(t, f, after)
	assert.NoError(t, r.Healthy())
	// The status is set just after the batch commits: wait for it too.
	require.Eventually(t, func() bool {
		for _, s := range r.Statuses() {
			if s.State != "running" || s.Parked != 1 {
				return false
			}
		}
		return true
	}, 10*time.Second, 10*time.Millisecond, "every projector running with one parked event: %+v", r.Statuses())
	parked, err := projections.ListParked(ctx, f.pool, "", false)
	require.NoError(t, err)
	require.Len(t, parked, len(projections.All()), "one per projector")
	for _, p := range parked {
		assert.Equal(t, poisonRes.Position, p.Position)
		assert.Equal(t, "ThreadTeleported", p.EventType)
		assert.Equal(t, "thread-soth_poison", p.Stream)
		assert.Contains(t, p.Error, "unknown event type")
	}
	var count int
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT sum(message_count) FROM inbox_threads`).Scan(&count))
	assert.Equal(t, 6, count, "the messages before and after it are all in")

	// A rebuild replays past it too, keeping it parked; the result verifies clean.
	inbox, _ := projections.ByName("inbox")
	_, err = projections.Rebuild(ctx, f.pool, f.store, f.registry, inbox)
	require.NoError(t, err)
	verifyAll(t, f)
	parked, err = projections.ListParked(ctx, f.pool, "inbox", true)
	require.NoError(t, err)
	require.Len(t, parked, 1)
	assert.Equal(t, projections.ParkedOpen, parked[0].State)
}

func TestRedeliveredBatchIsANoOp(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.ingest(t, 0, 12)
	evs, err := f.store.ReadAll(ctx, 0, 1000)
	require.NoError(t, err)
	for _, p := range projections.All() {
		_, err := projections.ApplyBatch(ctx, f.pool, f.registry, p, evs, "", projections.Hooks{})
		require.NoError(t, err)
		_, err = projections.ApplyBatch(ctx, f.pool, f.registry, p, evs, "", projections.Hooks{})
		require.NoError(t, err, "applying the same events again")
		_, err = projections.ApplyBatch(ctx, f.pool, f.registry, p, evs[3:7], "", projections.Hooks{})
		require.NoError(t, err)
	}
	var count, msgs int
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT sum(message_count) FROM inbox_threads`).Scan(&count))
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT count(*) FROM thread_messages`).Scan(&msgs))
	assert.Equal(t, 12, count)
	assert.Equal(t, 12, msgs)
	var balance int64
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT balance_micro_usd FROM wallet_balances WHERE owner_id = 'owner-0'`).Scan(&balance))
	assert.Equal(t, int64(1000-4*200), balance, "one credit, four charges (messages 0, 3, 6, 9)")
}

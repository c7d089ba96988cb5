package election_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/election"
	pgstore "github.com/socialops/socialops/adapters/eventstore/postgres"
	"github.com/socialops/socialops/adapters/postgres"
	"github.com/socialops/socialops/adapters/postgres/pgtest"
	"github.com/socialops/socialops/adapters/projectionrunner"
	"github.com/socialops/socialops/commands"
	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

// takeoverBound is the promise: another process runs the role within
// 10 s of its holder's death.
const takeoverBound = 10 * time.Second

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// recorder is a role's work that records who runs it and when.
type recorder struct {
	mu      sync.Mutex
	running map[string]bool // holder → running now
	starts  []start
	stops   map[string]time.Time // holder → last time its work returned
}

type start struct {
	holder string
	at     time.Time
}

func newRecorder() *recorder {
	return &recorder{running: map[string]bool{}, stops: map[string]time.Time{}}
}

func (r *recorder) work(holder string) election.StartFunc {
	return func(ctx context.Context) error {
		r.mu.Lock()
		r.running[holder] = true
		r.starts = append(r.starts, start{holder, time.Now()})
		r.mu.Unlock()
		<-ctx.Done()
		r.mu.Lock()
		r.running[holder] = false
		r.stops[holder] = time.Now()
		r.mu.Unlock()
		return nil
	}
}

func (r *recorder) runners() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for h, on := range r.running {
		if on {
			out = append(out, h)
		}
	}
	return out
}

func (r *recorder) startsOf(holder string) []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []time.Time
	for _, s := range r.starts {
		if s.holder == holder {
			out = append(out, s.at)
		}
	}
	return out
}

func (r *recorder) stoppedAt(holder string) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stops[holder]
}

type process struct {
	name    string
	elector *election.Elector
	cancel  context.CancelFunc
	done    chan error
}

// startProcess runs an elector named name with the roles given.
func startProcess(t *testing.T, databaseURL, name string, opts election.Options, roles map[string]election.StartFunc) *process {
	t.Helper()
	opts.Holder = name
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	e, err := election.New(databaseURL, opts)
	require.NoError(t, err)
	for role, f := range roles {
		require.NoError(t, e.Register(role, f))
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &process{name: name, elector: e, cancel: cancel, done: make(chan error, 1)}
	go func() { p.done <- e.Run(ctx) }()
	t.Cleanup(p.stop)
	return p
}

func (p *process) stop() {
	p.cancel()
	<-p.done
	p.done <- nil // stop may be called again
}

func holds(p *process, role string) bool {
	for _, r := range p.elector.Held() {
		if r == role {
			return true
		}
	}
	return false
}

// waitHolder waits until p holds role and returns how long that took.
func waitHolder(t *testing.T, p *process, role string, within time.Duration) time.Duration {
	t.Helper()
	began := time.Now()
	for !holds(p, role) {
		if time.Since(began) > within {
			t.Fatalf("%s did not win %s within %s", p.name, role, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(began)
}

func adminConn(t *testing.T, databaseURL string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), databaseURL)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// terminate ends the dedicated election session of holder from another
// session, as Postgres does when its keepalives give up on a cut-off holder.
func terminate(t *testing.T, admin *pgx.Conn, holder string) {
	t.Helper()
	var n int
	require.NoError(t, admin.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1`, "socialops-election "+holder).Scan(&n))
	require.Equal(t, 1, n, "one election session of %s", holder)
}

func TestExactlyOneHolderAndTakeoverWithinTenSeconds(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	admin := adminConn(t, dbURL)
	rec := newRecorder()
	proxyA, urlA := newProxy(t, dbURL)
	a := startProcess(t, urlA, "A", election.Options{}, map[string]election.StartFunc{"work": rec.work("A")})
	waitHolder(t, a, "work", 5*time.Second)
	b := startProcess(t, dbURL, "B", election.Options{}, map[string]election.StartFunc{"work": rec.work("B")})

	// Several rounds of contention: B never runs it while A holds it. (The
	// half second puts the kill between two of B's attempts.)
	time.Sleep(3500 * time.Millisecond)
	assert.Equal(t, []string{"A"}, rec.runners())
	assert.Empty(t, b.elector.Held())
	assert.Empty(t, rec.startsOf("B"))
	leases, err := election.Leases(context.Background(), admin, []string{"work"})
	require.NoError(t, err)
	require.Len(t, leases, 1)
	assert.Equal(t, "A", leases[0].Holder)
	assert.Equal(t, "held", leases[0].State())

	// A dies: its connection is reset, as the kernel does for a killed process.
	killed := time.Now()
	proxyA.kill()
	took := waitHolder(t, b, "work", takeoverBound)
	t.Logf("takeover after the holder's connection was killed: %s", took.Round(time.Millisecond))
	assert.Less(t, took, takeoverBound)
	require.Eventually(t, func() bool { return !rec.stoppedAt("A").IsZero() }, 5*time.Second, 10*time.Millisecond,
		"A's work was stopped when its connection broke")
	assert.WithinDuration(t, killed, rec.stoppedAt("A"), 4*time.Second)
	// Holding the lease comes first, then the work starts in its goroutine.
	assert.Eventually(t, func() bool { r := rec.runners(); return len(r) == 1 && r[0] == "B" }, 5*time.Second, 10*time.Millisecond,
		"B runs the work alone: %v", rec.runners())
	assert.EqualValues(t, 1, a.elector.Stats().Losses)
	assert.EqualValues(t, 1, b.elector.Stats().Failovers, "B took over a lease A had not released")

	// Now B's session is ended from outside, without B releasing anything
	// (Postgres giving up on a holder cut off from the network): A, which
	// reconnected meanwhile, takes over and B stops its work.
	time.Sleep(1500 * time.Millisecond)
	cut := time.Now()
	terminate(t, admin, "B")
	took = waitHolder(t, a, "work", takeoverBound)
	t.Logf("takeover after the holder's session was terminated: %s", took.Round(time.Millisecond))
	assert.Less(t, took, takeoverBound)
	require.Eventually(t, func() bool { return !rec.stoppedAt("B").IsZero() }, 5*time.Second, 10*time.Millisecond)
	assert.WithinDuration(t, cut, rec.stoppedAt("B"), 4*time.Second)
	assert.Eventually(t, func() bool { r := rec.runners(); return len(r) == 1 && r[0] == "A" }, 5*time.Second, 10*time.Millisecond,
		"A runs the work alone: %v", rec.runners())

	leases, err = election.Leases(context.Background(), admin, []string{"work"})
	require.NoError(t, err)
	assert.Equal(t, "A", leases[0].Holder)
	assert.Equal(t, "held", leases[0].State())
}

func TestHeartbeatFailureStopsTheRole(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	admin := adminConn(t, dbURL)
	rec := newRecorder()
	proxyA, urlA := newProxy(t, dbURL)
	var changes []election.Change
	var mu sync.Mutex
	opts := election.Options{Interval: 500 * time.Millisecond, HeartbeatTimeout: time.Second,
		OnChange: func(c election.Change) { mu.Lock(); changes = append(changes, c); mu.Unlock() }}
	a := startProcess(t, urlA, "A", opts, map[string]election.StartFunc{"work": rec.work("A")})
	waitHolder(t, a, "work", 5*time.Second)

	// The network is cut: nothing arrives, nothing is closed.
	cut := time.Now()
	proxyA.cut.Store(true)
	require.Eventually(t, func() bool { return !rec.stoppedAt("A").IsZero() }, 5*time.Second, 10*time.Millisecond,
		"the work is stopped when the heartbeat fails")
	stoppedAfter := rec.stoppedAt("A").Sub(cut)
	t.Logf("work stopped %s after the cut", stoppedAfter.Round(time.Millisecond))
	assert.Less(t, stoppedAfter, opts.Interval+opts.HeartbeatTimeout+500*time.Millisecond)
	assert.Empty(t, a.elector.Held())
	assert.EqualValues(t, 1, a.elector.Stats().Losses)
	mu.Lock()
	require.Len(t, changes, 2)
	assert.True(t, changes[0].Held)
	assert.False(t, changes[1].Held)
	assert.Contains(t, changes[1].Reason, "heartbeat failed")
	mu.Unlock()

	// Postgres has not noticed yet (the proxy keeps its side of the socket
	// open; a real cut is noticed by the keepalives), so the lock is still
	// taken: the stale holder stopped before anyone else could start.
	leases, err := election.Leases(context.Background(), admin, []string{"work"})
	require.NoError(t, err)
	assert.True(t, leases[0].Locked)
	proxyA.kill()
	waitHolder(t, a, "work", takeoverBound) // reconnected and won it again
	assert.EqualValues(t, 1, a.elector.Stats().Reconnects)
}

func TestGracefulStopReleasesAtOnce(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	admin := adminConn(t, dbURL)
	rec := newRecorder()
	a := startProcess(t, dbURL, "A", election.Options{}, map[string]election.StartFunc{"work": rec.work("A"), "other": rec.work("A")})
	waitHolder(t, a, "work", 5*time.Second)
	waitHolder(t, a, "other", 5*time.Second)
	// B contends only every 10 s: only A's release notification can wake it.
	b := startProcess(t, dbURL, "B", election.Options{Interval: 10 * time.Second}, map[string]election.StartFunc{"work": rec.work("B")})
	time.Sleep(500 * time.Millisecond) // B has made its first attempt and sleeps

	stopped := time.Now()
	a.stop()
	took := waitHolder(t, b, "work", 5*time.Second)
	t.Logf("takeover after a graceful stop: %s", took.Round(time.Millisecond))
	assert.Less(t, took, time.Second)
	// Holding the role comes first; B's work starts in its own goroutine.
	require.Eventually(t, func() bool { return len(rec.startsOf("B")) > 0 }, 5*time.Second, 5*time.Millisecond, "B's work started")
	assert.False(t, rec.stoppedAt("A").After(rec.startsOf("B")[0]), "A's work returned before B's started")
	assert.False(t, rec.stoppedAt("A").Before(stopped))
	assert.EqualValues(t, 2, a.elector.Stats().Releases)
	assert.Zero(t, b.elector.Stats().Failovers, "a released role is no failover")

	leases, err := election.Leases(context.Background(), admin, []string{"work", "other"})
	require.NoError(t, err)
	assert.Equal(t, "B", leases[0].Holder)
	assert.Equal(t, "held", leases[0].State())
	assert.Equal(t, election.Lease{Role: "other"}, leases[1], "A's lease row is gone")
}

func TestWorkThatReturnsGivesTheRoleUp(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	var runs atomic.Int32
	failing := func(ctx context.Context) error {
		runs.Add(1)
		return fmt.Errorf("boom")
	}
	a := startProcess(t, dbURL, "A", election.Options{Interval: 100 * time.Millisecond, RetryAfter: time.Hour},
		map[string]election.StartFunc{"work": failing})
	require.Eventually(t, func() bool { return a.elector.Stats().Releases == 1 }, 5*time.Second, 10*time.Millisecond)
	rec := newRecorder()
	b := startProcess(t, dbURL, "B", election.Options{Interval: 100 * time.Millisecond}, map[string]election.StartFunc{"work": rec.work("B")})
	waitHolder(t, b, "work", 5*time.Second)
	assert.EqualValues(t, 1, runs.Load(), "A waits RetryAfter before trying again")
}

func TestRegisterRejectsDuplicates(t *testing.T) {
	e, err := election.New("postgres://u@127.0.0.1:1/db", election.Options{})
	require.NoError(t, err)
	noop := func(ctx context.Context) error { <-ctx.Done(); return nil }
	require.NoError(t, e.Register("inbox", noop))
	assert.Error(t, e.Register("inbox", noop))
	assert.Error(t, e.Register("", noop))
	keys := map[int32]string{}
	for _, r := range []string{"inbox", "messages", "wallet", "actions", "channels", "delivery", "routing", "webhooks", "pushes"} {
		k := election.LockKey(r)
		assert.GreaterOrEqual(t, k, int32(0))
		assert.Empty(t, keys[k], "%s collides", r)
		keys[k] = r
	}
}

// countingInbox is the inbox projector that also writes, in the same
// transaction, which process applied which event.
type countingInbox struct {
	projections.InboxProjector
	holder string
}

func (p countingInbox) Apply(b *pgx.Batch, env domain.Envelope) error {
	if err := p.InboxProjector.Apply(b, env); err != nil {
		return err
	}
	b.Queue(`INSERT INTO election_applied (position, holder) VALUES ($1, $2)`, int64(env.Raw.Position), p.holder)
	return nil
}

// Merge counts each event of a run the inbox merges (a new thread's first
// webhook) as Apply counts one.
func (p countingInbox) Merge(b *pgx.Batch, events []domain.Envelope) (int, error) {
	n, err := p.InboxProjector.Merge(b, events)
	for _, env := range events[:n] {
		b.Queue(`INSERT INTO election_applied (position, holder) VALUES ($1, $2)`, int64(env.Raw.Position), p.holder)
	}
	return n, err
}

// projectorProcess is a process running the inbox projector as a role, with
// all its connections (pool and election) through its own proxy.
func projectorProcess(t *testing.T, dbURL, name string, reg *domain.Registry) (*process, *proxy) {
	t.Helper()
	px, pxURL := newProxy(t, dbURL)
	pool, err := postgres.Connect(context.Background(), pxURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	store := pgstore.New(pool, quiet)
	t.Cleanup(func() { _ = store.Close() })
	work := func(ctx context.Context) error {
		r := projectionrunner.New(pool, store, reg, projectionrunner.Options{
			Projectors: []projections.Projector{countingInbox{holder: name}}, Logger: quiet})
		return r.Run(ctx)
	}
	return startProcess(t, pxURL, name, election.Options{}, map[string]election.StartFunc{"inbox": work}), px
}

func TestProjectorRoleAppliesEveryEventOnceAcrossTakeovers(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	admin := adminConn(t, dbURL)
	ctx := context.Background()
	_, err := admin.Exec(ctx, `CREATE TABLE election_applied (position bigint NOT NULL, holder text NOT NULL)`)
	require.NoError(t, err)
	reg := domain.NewEventRegistry()

	writerPool, err := pgxpool.New(ctx, dbURL)
	require.NoError(t, err)
	t.Cleanup(writerPool.Close)
	store := pgstore.New(writerPool, quiet)
	t.Cleanup(func() { _ = store.Close() })
	svc := commands.NewService(store, reg, commands.Options{Logger: quiet})
	var written atomic.Int64
	ingest := func(i int) {
		inst := domain.Instance{ID: fmt.Sprintf("soinst_%d", i%3), Alias: fmt.Sprintf("a%d", i%3), OwnerID: fmt.Sprintf("owner-%d", i%3)}
		_, err := svc.IngestWebhook(ctx, commands.IngestWebhook{
			Instance: inst,
			Message: domain.InboundMessage{
				Provider: domain.ProviderGenericWebhook, ProviderEventID: fmt.Sprintf("e%d", i), ExternalThreadID: fmt.Sprintf("t%d", i%7),
				Subject: "subject", MessageType: domain.MessageText, Text: fmt.Sprintf("message %d", i),
				Sender: domain.Sender{DisplayName: "monitor"},
			},
			RawPayload: []byte(`{}`),
			Context:    commands.Context{Actor: domain.Actor{Kind: domain.ActorSystem, ID: "test"}},
		})
		require.NoError(t, err)
		written.Add(1)
	}
	for i := 0; i < 50; i++ { // before anyone runs the projector
		ingest(i)
	}
	stopWriting := make(chan struct{})
	writerDone := make(chan struct{})
	go func() { // during and after the takeovers
		defer close(writerDone)
		for i := 50; ; i++ {
			select {
			case <-stopWriting:
				return
			default:
			}
			ingest(i)
			time.Sleep(5 * time.Millisecond)
		}
	}()

	a, proxyA := projectorProcess(t, dbURL, "A", reg)
	waitHolder(t, a, "inbox", 5*time.Second)
	b, _ := projectorProcess(t, dbURL, "B", reg)
	time.Sleep(2500 * time.Millisecond)

	// A is killed: every connection of it (the projector's too) reset at once.
	proxyA.kill()
	took := waitHolder(t, b, "inbox", takeoverBound)
	t.Logf("projector takeover after the holder was killed: %s", took.Round(time.Millisecond))
	assert.Less(t, took, takeoverBound)
	time.Sleep(2 * time.Second)

	// B's session is ended without B releasing: A (reconnected) takes over.
	terminate(t, admin, "B")
	took = waitHolder(t, a, "inbox", takeoverBound)
	t.Logf("projector takeover after the holder's session was terminated: %s", took.Round(time.Millisecond))
	assert.Less(t, took, takeoverBound)
	time.Sleep(time.Second)
	close(stopWriting)
	<-writerDone

	head, err := store.HeadPosition(ctx)
	require.NoError(t, err)
	fresh, err := projections.WaitForPosition(ctx, writerPool, []string{"inbox"}, head, 20*time.Second)
	require.NoError(t, err)
	require.True(t, fresh)

	// Every event the inbox handles was applied exactly once, by one of them.
	var handled, applied, distinct, holders int
	var inbox projections.InboxProjector
	rows, err := admin.Query(ctx, `SELECT event_type FROM event_store_events`)
	require.NoError(t, err)
	types, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	for _, ty := range types {
		if inbox.Handles(ty) {
			handled++
		}
	}
	require.NoError(t, admin.QueryRow(ctx, `SELECT count(*), count(DISTINCT position), count(DISTINCT holder) FROM election_applied`).
		Scan(&applied, &distinct, &holders))
	t.Logf("%d messages written, %d inbox events applied", written.Load(), applied)
	assert.Equal(t, handled, applied, "nothing skipped, nothing doubled")
	assert.Equal(t, applied, distinct, "no event applied twice")
	assert.Equal(t, 2, holders, "both processes did part of the work")
	var missing int
	require.NoError(t, admin.QueryRow(ctx, `SELECT count(*) FROM event_store_events e WHERE e.event_type = ANY($1)
		AND NOT EXISTS (SELECT 1 FROM election_applied a WHERE a.position = e.position)`, handledTypes(types)).Scan(&missing))
	assert.Zero(t, missing)
	var messages int
	require.NoError(t, admin.QueryRow(ctx, `SELECT coalesce(sum(message_count), 0) FROM inbox_threads`).Scan(&messages))
	assert.EqualValues(t, written.Load(), messages, "every message counted once in the read model")
}

func handledTypes(types []string) []string {
	var inbox projections.InboxProjector
	seen := map[string]bool{}
	var out []string
	for _, ty := range types {
		if inbox.Handles(ty) && !seen[ty] {
			seen[ty] = true
			out = append(out, ty)
		}
	}
	return out
}

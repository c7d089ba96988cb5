package routing_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	pgstore "github.com/socialops/socialops/adapters/eventstore/postgres"
	"github.com/socialops/socialops/adapters/postgres"
	"github.com/socialops/socialops/adapters/postgres/pgtest"
	"github.com/socialops/socialops/adapters/projectionrunner"
	"github.com/socialops/socialops/adapters/routing"
	"github.com/socialops/socialops/commands"
	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

// env is routing over a real Postgres: the sessions projector and any number
// of routers, each with its own manager (as separate processes would be).
type env struct {
	t        testing.TB
	pool     *pgxpool.Pool
	store    *pgstore.Store
	registry *domain.Registry
	svc      *commands.Service
	tenancy  *postgres.Tenancy
	inst     domain.Instance
	logger   *slog.Logger
	seq      atomic.Int64
	assigned atomic.Int64
}

func newEnv(t testing.TB) *env {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	pool := pgtest.NewPool(t)
	store := pgstore.New(pool, logger)
	t.Cleanup(func() { _ = store.Close() })
	reg := domain.NewEventRegistry()
	e := &env{t: t, pool: pool, store: store, registry: reg, logger: logger,
		svc: commands.NewService(store, reg, commands.Options{Logger: logger}), tenancy: postgres.NewTenancy(pool, nil)}
	inst, err := e.tenancy.CreateInstance(context.Background(), "owner-1", "support")
	require.NoError(t, err)
	e.inst = inst
	e.run(projectionrunner.New(pool, store, reg, projectionrunner.Options{Projectors: []projections.Projector{projections.SessionsProjector{}}, Logger: logger}).Run)
	return e
}

func (e *env) run(f func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = f(ctx); close(done) }()
	e.t.Cleanup(func() { cancel(); <-done })
}

func (e *env) router() {
	e.run(e.newRouter().Run)
}

func (e *env) newRouter() *routing.Router {
	return routing.New(e.pool, e.store, e.registry, e.svc.NewRoutingManager(), e.tenancy, routing.Options{
		Logger: e.logger, SweepEvery: 300 * time.Millisecond,
		OnAssigned: func(commands.Assignment) { e.assigned.Add(1) },
	})
}

func (e *env) operators(n, capacity int, presence string) []int64 {
	e.t.Helper()
	items := make([]domain.NewOperator, n)
	for i := range items {
		items[i] = domain.NewOperator{Name: fmt.Sprintf("op %d", i), Capacity: &capacity}
	}
	res, err := e.svc.CreateOperators(context.Background(), commands.CreateOperators{Instance: e.inst, Items: items})
	require.NoError(e.t, err)
	var ids []int64
	for _, o := range res.Operators {
		ids = append(ids, o.ID)
		e.change(o.ID, domain.OperatorChanges{Presence: &presence})
	}
	return ids
}

func (e *env) change(id int64, ch domain.OperatorChanges) error {
	_, err := e.svc.ChangeOperator(context.Background(), commands.ChangeOperator{Instance: e.inst, OperatorID: id, Changes: ch})
	return err
}

func (e *env) session() string {
	e.t.Helper()
	n := e.seq.Add(1)
	res, err := e.svc.IngestWebhook(context.Background(), commands.IngestWebhook{Instance: e.inst, RawPayload: []byte(`{}`),
		Message: domain.InboundMessage{Provider: domain.ProviderGenericWebhook, ProviderEventID: fmt.Sprint("ev-", n),
			ExternalThreadID: fmt.Sprint("chat-", n), Subject: "Help", MessageType: domain.MessageText, Text: "hi",
			Sender: domain.Sender{ExternalID: fmt.Sprint("user-", n), DisplayName: "Ann"}}})
	require.NoError(e.t, err)
	return res.ThreadID
}

func (e *env) events() []domain.Envelope {
	e.t.Helper()
	raw, err := e.store.ReadAll(context.Background(), 0, 10_000_000)
	require.NoError(e.t, err)
	out := make([]domain.Envelope, 0, len(raw))
	for _, r := range raw {
		env, err := e.registry.Decode(r)
		require.NoError(e.t, err)
		out = append(out, env)
	}
	return out
}

// holders folds the threads: the operator holding each manual session.
func holders(evs []domain.Envelope) map[string]int64 {
	out := map[string]int64{}
	for _, ev := range evs {
		switch p := ev.Payload.(type) {
		case domain.SessionAssigned:
			out[p.ThreadID] = p.OperatorID
		case domain.SessionAccepted:
			out[p.ThreadID] = p.OperatorID
		case domain.SessionQueued:
			delete(out, p.ThreadID)
		case domain.SessionReopened:
			delete(out, p.ThreadID)
		case domain.SessionClosed:
			delete(out, p.ThreadID)
		}
	}
	return out
}

// checkLog replays the log and checks routing's invariants: every routed
// count went to an active, online operator below capacity; no count put an
// operator above capacity; no session was given while another operator held
// it.
func checkLog(t testing.TB, evs []domain.Envelope, instanceID string) {
	t.Helper()
	r := domain.NewRoster(instanceID)
	held := map[string]int64{}
	for _, ev := range evs {
		if ev.Raw.StreamID == domain.RosterStream(instanceID) {
			if c, ok := ev.Payload.(domain.OperatorSessionCounted); ok {
				o, _ := r.Operator(c.OperatorID)
				if c.Routed {
					if prev, ok := r.Holders[c.ThreadID]; !ok || prev != c.OperatorID {
						require.True(t, o.Available(), "position %d: routed to %+v", ev.Raw.Position, o)
					}
				} else {
					if !(o.Capacity == 0 || o.Load < o.Capacity || r.Holders[c.ThreadID] == c.OperatorID) {
						for _, x := range evs {
							if x.Raw.Position <= ev.Raw.Position && (fmt.Sprint(x.Payload) != "" && (containsStr(fmt.Sprintf("%+v", x.Payload), c.ThreadID) || containsStr(fmt.Sprintf("%+v", x.Payload), "OperatorID:7 "))) {
								t.Logf("%d %s %s %+v", x.Raw.Position, x.Raw.StreamID, x.Type, x.Payload)
							}
						}
					}
					require.True(t, o.Capacity == 0 || o.Load < o.Capacity || r.Holders[c.ThreadID] == c.OperatorID,
						"position %d: accept counted above capacity: %+v", ev.Raw.Position, o)
				}
			}
			r = domain.EvolveRoster(r, ev)
			if c, ok := ev.Payload.(domain.OperatorSessionCounted); ok {
				o, _ := r.Operator(c.OperatorID)
				require.True(t, o.Capacity == 0 || o.Load <= o.Capacity, "position %d: %+v above capacity", ev.Raw.Position, o)
			}
			continue
		}
		switch p := ev.Payload.(type) {
		case domain.SessionAssigned:
			_, taken := held[p.ThreadID]
			require.False(t, taken, "position %d: %s assigned while held", ev.Raw.Position, p.ThreadID)
			held[p.ThreadID] = p.OperatorID
		case domain.SessionAccepted:
			_, taken := held[p.ThreadID]
			require.False(t, taken, "position %d: %s accepted while held", ev.Raw.Position, p.ThreadID)
			held[p.ThreadID] = p.OperatorID
		case domain.SessionQueued, domain.SessionReopened, domain.SessionClosed:
			delete(held, threadOf(p))
		}
	}
}

func threadOf(p any) string {
	switch e := p.(type) {
	case domain.SessionQueued:
		return e.ThreadID
	case domain.SessionReopened:
		return e.ThreadID
	case domain.SessionClosed:
		return e.ThreadID
	}
	return ""
}

func waitFor(t testing.TB, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Sessions queued while nobody is online go, once seven operators of equal
// capacity come online, round-robin: counts differ by at most one.
func TestRouterQueuesThenSharesFairly(t *testing.T) {
	e := newEnv(t)
	ops := e.operators(7, 200, domain.PresenceOffline)
	ctx, stop := context.WithCancel(context.Background())
	first := make(chan struct{})
	go func() { _ = e.newRouter().Run(ctx); close(first) }()
	const n = 701
	for i := 0; i < n; i++ {
		e.session()
	}
	time.Sleep(300 * time.Millisecond)
	assert.Zero(t, e.assigned.Load(), "nobody online: the sessions stay queued")
	stop()
	<-first
	// A second router (a restart) starts once all are online: it drains the
	// queue round-robin over the seven, oldest first.
	online := domain.PresenceOnline
	for _, id := range ops {
		require.NoError(t, e.change(id, domain.OperatorChanges{Presence: &online}))
	}
	e.router()
	var err error
	waitFor(t, "every session assigned", 60*time.Second, func() bool { return e.assigned.Load() >= n })
	evs := e.events()
	counts := map[int64]int{}
	for _, op := range holders(evs) {
		counts[op]++
	}
	require.Len(t, counts, 7)
	lo, hi := n, 0
	for _, c := range counts {
		lo, hi = min(lo, c), max(hi, c)
	}
	assert.LessOrEqual(t, hi-lo, 1, "counts %v", counts)
	checkLog(t, evs, e.inst.ID)

	// Manual routing: nobody is assigned; operators accept from the queue.
	manual := domain.RoutingManual
	_, err = e.tenancy.SetSettings(context.Background(), e.inst.Alias, nil, &manual)
	require.NoError(t, err)
	before := e.assigned.Load()
	e.session()
	time.Sleep(500 * time.Millisecond)
	assert.Equal(t, before, e.assigned.Load())
}

// Two routers on one database (split brain: no election) route while
// operators change status, presence and capacity, sessions close and
// operators accept: nothing is assigned twice, nobody goes above capacity,
// nobody unavailable gets a session.
func TestTwoRoutersWithChurnKeepTheInvariants(t *testing.T) {
	e := newEnv(t)
	ops := e.operators(8, 3, domain.PresenceOnline)
	e.router()
	e.router()
	ctx := context.Background()
	rnd := rand.New(rand.NewSource(time.Now().UnixNano()))
	var mu sync.Mutex
	var threads []string
	var wg sync.WaitGroup
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 60; i++ {
				th := e.session()
				mu.Lock()
				threads = append(threads, th)
				mu.Unlock()
			}
		}()
	}
	stop := make(chan struct{})
	churnDone := make(chan struct{})
	go func() {
		defer close(churnDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			mu.Lock()
			id := ops[rnd.Intn(len(ops))]
			var th string
			if len(threads) > 0 {
				th = threads[rnd.Intn(len(threads))]
			}
			k := rnd.Intn(10)
			mu.Unlock()
			switch {
			case k < 2:
				st := rnd.Intn(2) // active or inactive; one deletion below
				_ = e.change(id, domain.OperatorChanges{Status: &st})
			case k < 4:
				p := domain.Presences[rnd.Intn(3)]
				_ = e.change(id, domain.OperatorChanges{Presence: &p})
			case k < 5:
				c := 1 + rnd.Intn(4)
				_ = e.change(id, domain.OperatorChanges{Capacity: &c})
			case k < 8 && th != "":
				_, _ = e.svc.CloseSession(ctx, commands.CloseSession{Instance: e.inst, ThreadID: th})
			case th != "":
				_, _ = e.svc.AcceptSession(ctx, commands.AcceptSession{Instance: e.inst, ThreadID: th, OperatorID: id})
			}
			time.Sleep(time.Duration(rnd.Intn(5)) * time.Millisecond)
		}
	}()
	deleted := domain.OperatorDeleted
	time.Sleep(300 * time.Millisecond)
	require.NoError(t, e.change(ops[0], domain.OperatorChanges{Status: &deleted}))
	wg.Wait()
	close(stop)
	<-churnDone

	// Everyone left active and online with room: the queue drains.
	active, online, room := domain.OperatorActive, domain.PresenceOnline, 0
	for _, id := range ops[1:] {
		require.NoError(t, e.change(id, domain.OperatorChanges{Status: &active, Presence: &online, Capacity: &room}))
	}
	waitFor(t, "no pending session left", 60*time.Second, func() bool {
		var n int
		require.NoError(t, e.pool.QueryRow(ctx, `SELECT count(*) FROM sessions WHERE instance_id = $1 AND status = 'pending'`, e.inst.ID).Scan(&n))
		return n == 0
	})
	evs := e.events()
	checkLog(t, evs, e.inst.ID)
	for th, op := range holders(evs) {
		assert.NotEqual(t, ops[0], op, "the deleted operator holds %s", th)
	}
}

func containsStr(a, b string) bool { return len(b) > 0 && strings.Contains(a, b) }

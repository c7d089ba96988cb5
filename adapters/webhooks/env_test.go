package webhooks_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	pgstore "github.com/socialops/socialops/adapters/eventstore/postgres"
	"github.com/socialops/socialops/adapters/postgres"
	"github.com/socialops/socialops/adapters/postgres/pgtest"
	"github.com/socialops/socialops/adapters/webhooks"
	"github.com/socialops/socialops/commands"
	"github.com/socialops/socialops/domain"
)

var seq atomic.Int64

// env is the dispatcher over a real Postgres, with a test instance.
type env struct {
	t        *testing.T
	pool     *pgxpool.Pool
	store    *pgstore.Store
	registry *domain.Registry
	commands *commands.Service
	subs     *webhooks.Store
	inst     domain.Instance
	opts     webhooks.Options
	attempts sync.Map // outcome → *atomic.Int64
}

func newEnv(t *testing.T, tweak func(*webhooks.Options)) *env {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	pool := pgtest.NewPool(t)
	store := pgstore.New(pool, logger)
	t.Cleanup(func() { _ = store.Close() })
	reg := domain.NewEventRegistry()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	e := &env{t: t, pool: pool, store: store, registry: reg,
		commands: commands.NewService(store, reg, commands.Options{Logger: logger})}
	inst, err := postgres.NewTenancy(pool, nil).CreateInstance(context.Background(), "owner-1", fmt.Sprintf("inst%d", seq.Add(1)))
	require.NoError(t, err)
	e.inst = inst
	e.subs = webhooks.NewStore(pool, webhooks.StoreOptions{EncryptionKey: key, Head: store.HeadPosition, AllowPrivate: true})
	e.opts = webhooks.Options{
		Schedule: []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 150 * time.Millisecond},
		Timeout:  300 * time.Millisecond, MessageTimeout: 300 * time.Millisecond,
		PollInterval: 50 * time.Millisecond, LeaseSlack: 300 * time.Millisecond,
		AllowPrivate: true, Logger: logger,
		OnAttempt: func(o string) {
			v, _ := e.attempts.LoadOrStore(o, &atomic.Int64{})
			v.(*atomic.Int64).Add(1)
		},
	}
	if tweak != nil {
		tweak(&e.opts)
	}
	return e
}

// start runs a dispatcher until the test ends.
func (e *env) start() *webhooks.Dispatcher {
	d := webhooks.NewDispatcher(e.pool, e.store, e.registry, e.subs, e.opts)
	e.subs.Notify = d.Nudge
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = d.Run(ctx); close(done) }()
	e.t.Cleanup(func() { cancel(); <-done })
	return d
}

func (e *env) subscribe(url string, events ...string) (webhooks.Subscription, string) {
	e.t.Helper()
	in := webhooks.Input{URL: &url}
	if events != nil {
		in.Events = &events
	}
	sub, secret, err := e.subs.Create(context.Background(), e.inst.ID, in)
	require.NoError(e.t, err)
	return sub, secret
}

// inbound accepts one message in a new thread and returns the thread id.
func (e *env) inbound(text string) string {
	e.t.Helper()
	n := seq.Add(1)
	res, err := e.commands.IngestWebhook(context.Background(), commands.IngestWebhook{Instance: e.inst, RawPayload: []byte(`{}`),
		Message: domain.InboundMessage{Provider: domain.ProviderGenericWebhook, ProviderEventID: fmt.Sprint("ev-", n),
			ExternalThreadID: fmt.Sprint("chat-", n), Subject: "Help", MessageType: domain.MessageText, Text: text,
			Sender: domain.Sender{ExternalID: "ext-user-1", DisplayName: "Ann"}}})
	require.NoError(e.t, err)
	return res.ThreadID
}

func (e *env) deliveries(subID string) []webhooks.Delivery {
	e.t.Helper()
	ds, _, err := e.subs.Deliveries(context.Background(), e.inst.ID, subID, webhooks.ListFilter{Limit: 100})
	require.NoError(e.t, err)
	return ds
}

func (e *env) outcomes(o string) int64 {
	v, ok := e.attempts.Load(o)
	if !ok {
		return 0
	}
	return v.(*atomic.Int64).Load()
}

// hit is one request a receiver got.
type hit struct {
	at     time.Time
	header http.Header
	body   []byte
	event  map[string]any
}

// receiver is a real HTTP server on loopback; answer decides each reply.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	hits   []hit
	answer func(n int, h hit, w http.ResponseWriter) // n: 0-based request number
}

func newReceiver(t *testing.T, answer func(n int, h hit, w http.ResponseWriter)) *receiver {
	r := &receiver{answer: answer}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		h := hit{at: time.Now(), header: req.Header.Clone(), body: body}
		_ = json.Unmarshal(body, &h.event)
		r.mu.Lock()
		n := len(r.hits)
		r.hits = append(r.hits, h)
		r.mu.Unlock()
		if r.answer == nil {
			w.WriteHeader(http.StatusOK)
			return
		}
		r.answer(n, h, w)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) all() []hit {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hit(nil), r.hits...)
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type atomicBool struct{ v atomic.Bool }

func (b *atomicBool) get() bool  { return b.v.Load() }
func (b *atomicBool) set(v bool) { b.v.Store(v) }

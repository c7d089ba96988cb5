package httpapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/bots"
	pgstore "github.com/socialops/socialops/adapters/eventstore/postgres"
	httpapi "github.com/socialops/socialops/adapters/http"
	"github.com/socialops/socialops/adapters/postgres"
	"github.com/socialops/socialops/adapters/postgres/pgtest"
	"github.com/socialops/socialops/adapters/projectionrunner"
	"github.com/socialops/socialops/adapters/webhooks"
	"github.com/socialops/socialops/commands"
	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

// harness is the service over real Postgres, served by httptest.
type harness struct {
	t        *testing.T
	srv      *httptest.Server
	store    *pgstore.Store
	tenancy  *postgres.Tenancy
	registry *domain.Registry
	now      time.Time
	pool     *pgxpool.Pool
	commands *commands.Service
	runner   *projectionrunner.Runner
	accounts *postgres.Accounts
}

var testJWTSecret = []byte("console-test-secret-0123456789abcdef")

var testEncryptionKey = func() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return k
}()

func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessWith(t, pgtest.NewPool(t), nil)
}

// newHarnessWith assembles the service on a given pool; tweak adjusts its deps.
func newHarnessWith(t *testing.T, pool *pgxpool.Pool, tweak func(*httpapi.Deps)) *harness {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := pgstore.New(pool, logger)
	t.Cleanup(func() { _ = store.Close() })
	reg := domain.NewEventRegistry()
	// One key for every harness of the test binary: two harnesses on one
	// pool are two processes of one deployment.
	encKey := testEncryptionKey
	h := &harness{t: t, store: store, tenancy: postgres.NewTenancy(pool, nil).WithEncryptionKey(encKey), registry: reg, now: time.Now()}
	h.accounts = postgres.NewAccounts(pool, encKey, nil)
	hooks := webhooks.NewStore(pool, webhooks.StoreOptions{EncryptionKey: encKey, AllowPrivate: true})
	botStore := bots.NewStore(pool, hooks, true)
	svc := commands.NewService(store, reg, commands.Options{Logger: logger}).WithBots(botStore)
	h.pool = pool
	h.commands = svc
	runner := projectionrunner.New(pool, store, reg, projectionrunner.Options{Logger: logger})
	h.runner = runner
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = runner.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	deps := httpapi.Deps{
		Accounts:           h.accounts,
		Idempotency:        postgres.NewIdempotencyKeys(pool),
		JWTSecret:          testJWTSecret,
		Logger:             logger,
		Database:           store,
		EventStore:         store,
		Tenancy:            h.tenancy,
		Commands:           svc,
		Reads:              pool,
		Events:             store,
		Registry:           reg,
		Projections:        runner,
		ReadYourWritesWait: 2 * time.Second,
		Now:                func() time.Time { return h.now },
		Bots:               botStore,
		Webhooks: webhooks.NewStore(pool, webhooks.StoreOptions{EncryptionKey: encKey, Head: store.HeadPosition,
			AllowPrivate: true}),
	}
	if tweak != nil {
		tweak(&deps)
	}
	router := httpapi.NewRouter(deps)
	// The web console's pages, when a test gives it (console_web_test.go).
	if ui, ok := deps.ConsoleSessions.(interface{ Register(*gin.Engine) }); ok {
		ui.Register(router)
	}
	h.srv = httptest.NewServer(router)
	t.Cleanup(h.srv.Close)
	return h
}

func (h *harness) instance(owner, alias string) domain.Instance {
	inst, err := h.tenancy.CreateInstance(context.Background(), owner, alias)
	require.NoError(h.t, err)
	return inst
}

func (h *harness) key(owner string, scopes ...string) string {
	k, _, err := h.tenancy.CreateAPIKey(context.Background(), owner, scopes)
	require.NoError(h.t, err)
	return k
}

type response struct {
	status int
	header http.Header
	body   []byte
	json   map[string]any
}

func (h *harness) do(method, path string, body []byte, header map[string]string) response {
	h.t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, bytes.NewReader(body))
	require.NoError(h.t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(h.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(h.t, err)
	r := response{status: resp.StatusCode, header: resp.Header, body: raw}
	_ = json.Unmarshal(raw, &r.json)
	// Every request and answer is checked against the OpenAPI document
	// (openapi_check_test.go says which mismatches fail a test).
	h.checkDocument(exchange{method: method, url: req.URL.String(), header: req.Header, body: body,
		status: resp.StatusCode, rheader: resp.Header, rbody: raw})
	return r
}

func (r response) errorCode() string {
	e, _ := r.json["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func (r response) errorMessage() string {
	e, _ := r.json["error"].(map[string]any)
	msg, _ := e["message"].(string)
	return msg
}

// events returns every event in the log, decoded.
func (h *harness) events() []domain.Envelope {
	h.t.Helper()
	raw, err := h.store.ReadAll(context.Background(), 0, 1_000_000)
	require.NoError(h.t, err)
	out := make([]domain.Envelope, 0, len(raw))
	for _, r := range raw {
		env, err := h.registry.Decode(r)
		require.NoError(h.t, err)
		out = append(out, env)
	}
	return out
}

func (h *harness) head() uint64 {
	p, err := h.store.HeadPosition(context.Background())
	require.NoError(h.t, err)
	return p
}

// settle waits until every projector has applied the whole log, for tests
// that read without the read-your-writes header.
func (h *harness) settle() {
	h.t.Helper()
	var names []string
	for _, p := range projections.All() {
		names = append(names, p.Name())
	}
	fresh, err := projections.WaitForPosition(context.Background(), h.pool, names, h.head(), 20*time.Second)
	require.NoError(h.t, err)
	require.True(h.t, fresh, "projectors did not reach the log head")
}

func countTypes(evs []domain.Envelope) map[string]int {
	m := map[string]int{}
	for _, e := range evs {
		m[e.Type]++
	}
	return m
}

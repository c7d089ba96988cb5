package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/deliveryworker"
	"github.com/socialops/socialops/adapters/metrics/metricstest"
	"github.com/socialops/socialops/adapters/postgres/pgtest"
	"github.com/socialops/socialops/projections"
)

// TestServeMetrics sends traffic to `serve`, lets the followers settle, and
// scrapes /metrics on SOCIALOPS_METRICS_ADDR over HTTP.
func TestServeMetrics(t *testing.T) {
	metricsAddr := freeAddr(t)
	envm := map[string]string{
		"SOCIALOPS_DATABASE_URL": pgtest.NewDatabase(t),
		"SOCIALOPS_HTTP_ADDR":    freeAddr(t),
		"SOCIALOPS_METRICS_ADDR": metricsAddr,
		"SOCIALOPS_LOG_LEVEL":    "warn",
	}
	cli(t, envm, "instance", "create", "--owner", "user-1", "--alias", "support")
	key := strings.TrimSpace(cli(t, envm, "apikey", "create", "--owner", "user-1", "--scopes", "socialops:write,socialops:read"))
	base, stop := startServe(t, envm)
	defer func() { assert.Equal(t, 0, stop(), "graceful shutdown exits 0") }()
	metricsURL := "http://" + metricsAddr + "/metrics"

	// What was sent, by route template, method and status, as the client saw it.
	sent := map[[3]string]int{}
	do := func(route, method, path, key, body string) map[string]any {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		if key != "" {
			req.Header.Set("X-API-Key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		sent[[3]string{route, method, fmt.Sprint(resp.StatusCode)}]++
		var out map[string]any
		_ = json.Unmarshal(raw, &out)
		return out
	}
	const webhookRoute = "/v1/apps/socialops/:alias/webhook/:provider"
	webhook := func(eventID, key string) map[string]any {
		return do(webhookRoute, "POST", "/v1/apps/socialops/support/webhook/generic-webhook", key,
			`{"event_id":"`+eventID+`","thread_id":"incident_42","title":"Incident opened","text":"API latency is high","user":{"id":"monitor"}}`)
	}
	var threadID string
	for i := 1; i <= 3; i++ {
		out := webhook(fmt.Sprintf("evt_%d", i), key)
		require.Equal(t, "accepted", out["status"], out)
		threadID, _ = out["thread_id"].(string)
	}
	webhook("evt_1", key)                 // a redelivery, accepted again
	webhook("evt_9", "sk_not_a_real_key") // refused
	webhook("evt_10", "")                 // refused
	do("/v1/apps/socialops/:alias/inbox", "GET", "/v1/apps/socialops/support/inbox?limit=10", key, "")
	do(metricsRouteUnmatched, "GET", "/v1/apps/socialops/support/no-such-route/12345", key, "")
	do(metricsRouteUnmatched, "BREW", "/coffee", "", "") // any method token: counted as "other"
	// A reply on a generic-webhook thread cannot be delivered: it ends failed.
	reply := do("/v1/apps/socialops/:alias/threads/:thread_id/replies", "POST",
		"/v1/apps/socialops/support/threads/"+threadID+"/replies", key, `{"text":"looking into it"}`)
	require.Equal(t, true, reply["success"], reply)

	pool, err := pgxpool.New(context.Background(), envm["SOCIALOPS_DATABASE_URL"])
	require.NoError(t, err)
	defer pool.Close()
	head := func() float64 {
		var h int64
		require.NoError(t, pool.QueryRow(context.Background(), `SELECT coalesce(max(position), 0) FROM event_store_events`).Scan(&h))
		return float64(h)
	}
	followers := []string{deliveryworker.CheckpointName}
	for _, p := range projections.All() {
		followers = append(followers, p.Name())
	}

	// Settled: the reply failed, and every follower is at the head.
	var fams metricstest.Families
	require.Eventually(t, func() bool {
		fams = metricstest.Scrape(t, metricsURL)
		if v, _ := fams.Value("socialops_reply_deliveries_total", "outcome", "failed"); v != 1 {
			return false
		}
		h := head()
		for _, f := range followers {
			if v, _ := fams.Value("socialops_projector_position", "projector", f); v != h {
				return false
			}
		}
		return true
	}, 20*time.Second, 100*time.Millisecond, "followers settle at the head and the reply fails")

	// HTTP: counts per route, method and status exactly as sent; no raw path.
	for k, n := range sent {
		method := k[1]
		if method == "BREW" {
			method = "other"
		}
		v, ok := fams.Value("socialops_http_requests_total", "route", k[0], "method", method, "status", k[2])
		assert.True(t, ok, "series for %v", k)
		assert.Equal(t, float64(n), v, "requests %v", k)
	}
	assert.Equal(t, 4, sent[[3]string{webhookRoute, "POST", "202"}], "four webhooks accepted")
	assert.Equal(t, 2, sent[[3]string{webhookRoute, "POST", "401"}]+sent[[3]string{webhookRoute, "POST", "403"}], "two refused")
	total := 0
	for _, m := range fams["socialops_http_requests_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "route" && l.GetValue() != "/healthz" { // startServe polls /healthz
				total += int(m.GetCounter().GetValue())
			}
		}
	}
	assert.Equal(t, 10, total, "every request counted once; /metrics scrapes are not API requests")
	for _, route := range fams.LabelValues("socialops_http_requests_total", "route") {
		assert.False(t, strings.Contains(route, "support") || strings.Contains(route, "12345"), "raw path as a label: %s", route)
	}
	n, ok := fams.HistogramCount("socialops_http_request_duration_seconds", "route", webhookRoute, "method", "POST")
	assert.True(t, ok)
	assert.Equal(t, uint64(6), n)

	// The event store.
	appends, _ := fams.HistogramCount("socialops_eventstore_append_duration_seconds", "outcome", "ok")
	assert.Positive(t, appends)
	batches, _ := fams.HistogramCount("socialops_eventstore_batch_appends")
	assert.Positive(t, batches)
	events, _ := fams.HistogramCount("socialops_eventstore_batch_events")
	assert.Equal(t, batches, events)
	appended, _ := fams.Value("socialops_eventstore_appended_events_total")
	assert.Positive(t, appended)
	h, _ := fams.Value("socialops_eventstore_head_position")
	assert.Equal(t, head(), h)

	// Every follower at the head with no lag.
	for _, f := range followers {
		lag, ok := fams.Value("socialops_projector_lag_events", "projector", f)
		assert.True(t, ok, f)
		assert.Zero(t, lag, f)
		secs, ok := fams.Value("socialops_projector_lag_seconds", "projector", f)
		assert.True(t, ok, f)
		assert.Zero(t, secs, f)
	}

	// The only process holds every follower role, each won once (no failover).
	for _, role := range followerRoles() {
		held, ok := fams.Value("socialops_follower_role_held", "role", role)
		assert.True(t, ok, role)
		assert.Equal(t, 1.0, held, role)
		won, _ := fams.Value("socialops_follower_role_changes_total", "role", role, "kind", "acquired")
		assert.Equal(t, 1.0, won, role)
	}

	// Deliveries, the reserved series, runtime and build.
	for outcome, want := range map[string]float64{"failed": 1, "delivered": 0, "retried": 0, "unknown": 0} {
		v, ok := fams.Value("socialops_reply_deliveries_total", "outcome", outcome)
		assert.True(t, ok, outcome)
		assert.Equal(t, want, v, outcome)
	}
	for _, outcome := range []string{"delivered", "retried", "failed"} {
		v, ok := fams.Value("socialops_webhook_attempts_total", "outcome", outcome)
		assert.True(t, ok, outcome)
		assert.Zero(t, v)
	}
	ws, ok := fams.Value("socialops_websocket_connections")
	assert.True(t, ok)
	assert.Zero(t, ws)
	g, ok := fams.Value("go_goroutines")
	assert.True(t, ok)
	assert.Positive(t, g)
	_, ok = fams.Value("process_resident_memory_bytes")
	assert.True(t, ok)
	b, ok := fams.Value("socialops_build_info")
	assert.True(t, ok)
	assert.Equal(t, 1.0, b)

	// Only /metrics is served there.
	resp, err := http.Get("http://" + metricsAddr + "/")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

const metricsRouteUnmatched = "unmatched"

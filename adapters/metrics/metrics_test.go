package metrics_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	pgstore "github.com/socialops/socialops/adapters/eventstore/postgres"
	"github.com/socialops/socialops/adapters/metrics"
	"github.com/socialops/socialops/adapters/metrics/metricstest"
	"github.com/socialops/socialops/adapters/postgres/pgtest"
	"github.com/socialops/socialops/domain"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func proposed(n int) []domain.ProposedEvent {
	out := make([]domain.ProposedEvent, n)
	for i := range out {
		out[i] = domain.ProposedEvent{ID: uuid.NewString(), Type: "TestHappened", Data: []byte(`{}`), Metadata: []byte(`{}`)}
	}
	return out
}

func TestEventStoreAppendsAndBatches(t *testing.T) {
	pool := pgtest.NewPool(t)
	ps := pgstore.New(pool, quiet)
	t.Cleanup(func() { _ = ps.Close() })
	m := metrics.New()
	ps.SetObserver(m.EventStore)
	store := m.EventStore.Instrument(ps)
	ctx := context.Background()

	_, err := store.Append(ctx, "test-1", domain.NoStream(), proposed(3)...)
	require.NoError(t, err)
	_, err = store.Append(ctx, "test-1", domain.ExactRevision(2), proposed(2)...)
	require.NoError(t, err)
	_, err = store.Append(ctx, "test-1", domain.NoStream(), proposed(1)...)
	require.ErrorIs(t, err, domain.ErrWrongExpectedRevision)

	f := metricstest.Gather(t, m.Registry)
	n, _ := f.HistogramCount("socialops_eventstore_append_duration_seconds", "outcome", "ok")
	assert.Equal(t, uint64(2), n)
	n, _ = f.HistogramCount("socialops_eventstore_append_duration_seconds", "outcome", "conflict")
	assert.Equal(t, uint64(1), n)
	n, _ = f.HistogramCount("socialops_eventstore_append_duration_seconds", "outcome", "error")
	assert.Equal(t, uint64(0), n)
	v, _ := f.Value("socialops_eventstore_appended_events_total")
	assert.Equal(t, 5.0, v)
	// Sequential appends: one batch each, the conflicting one included.
	n, _ = f.HistogramCount("socialops_eventstore_batch_appends")
	assert.Equal(t, uint64(3), n)
	sum := f["socialops_eventstore_batch_events"].GetMetric()[0].GetHistogram().GetSampleSum()
	assert.Equal(t, 6.0, sum, "events proposed over the batches")
	n, _ = f.HistogramCount("socialops_eventstore_batch_duration_seconds")
	assert.Equal(t, uint64(3), n)
	v, _ = f.Value("socialops_eventstore_batch_failures_total")
	assert.Zero(t, v)
}

func TestFollowersPositionAndLag(t *testing.T) {
	pool := pgtest.NewPool(t)
	store := pgstore.New(pool, quiet)
	t.Cleanup(func() { _ = store.Close() })
	ctx := context.Background()
	for i := 0; i < 4; i++ {
		_, err := store.Append(ctx, "test-1", domain.AnyRevision(), proposed(1)...)
		require.NoError(t, err)
	}
	evs, err := store.ReadAll(ctx, 0, 10)
	require.NoError(t, err)
	require.Len(t, evs, 4)
	head := evs[3].Position
	_, err = pool.Exec(ctx, `INSERT INTO projection_checkpoints (projector, position) VALUES ('inbox', $1), ('delivery-manager', $2)`,
		int64(evs[1].Position), int64(head))
	require.NoError(t, err)

	now := evs[2].Created.Add(90 * time.Second) // the oldest event inbox has not applied is 90 s old
	m := metrics.New()
	require.NoError(t, m.RegisterFollowers(metrics.NewFollowers(pool, store, metrics.FollowersOptions{
		Names: []string{"inbox", "routing-manager"}, Now: func() time.Time { return now }, Logger: quiet,
	})))
	f := metricstest.Gather(t, m.Registry)
	val := func(name, follower string) float64 {
		v, ok := f.Value(name, "projector", follower)
		require.True(t, ok, "%s{projector=%q}", name, follower)
		return v
	}
	h, _ := f.Value("socialops_eventstore_head_position")
	assert.Equal(t, float64(head), h)

	assert.Equal(t, float64(evs[1].Position), val("socialops_projector_position", "inbox"))
	assert.Equal(t, 2.0, val("socialops_projector_lag_events", "inbox"))
	assert.InDelta(t, 90.0, val("socialops_projector_lag_seconds", "inbox"), 0.001)

	assert.Equal(t, float64(head), val("socialops_projector_position", "delivery-manager"), "a process manager's checkpoint is reported too")
	assert.Zero(t, val("socialops_projector_lag_events", "delivery-manager"))
	assert.Zero(t, val("socialops_projector_lag_seconds", "delivery-manager"), "caught up: no lag")

	// Named but never checkpointed: at 0, behind by the whole log.
	assert.Zero(t, val("socialops_projector_position", "routing-manager"))
	assert.Equal(t, float64(head), val("socialops_projector_lag_events", "routing-manager"))
	assert.InDelta(t, now.Sub(evs[0].Created).Seconds(), val("socialops_projector_lag_seconds", "routing-manager"), 0.001)
}

// A collector that fails leaves its series out; the scrape still answers.
func TestScrapeSurvivesAFailingFollowersRead(t *testing.T) {
	pool := pgtest.NewPool(t)
	store := pgstore.New(pool, quiet)
	t.Cleanup(func() { _ = store.Close() })
	m := metrics.New()
	require.NoError(t, m.RegisterFollowers(metrics.NewFollowers(pool, failingLog{store}, metrics.FollowersOptions{Logger: quiet})))
	srv := httptest.NewServer(m.Server(quiet).Handler)
	t.Cleanup(srv.Close)
	f := metricstest.Scrape(t, srv.URL+"/metrics")
	_, ok := f.Value("go_goroutines")
	assert.True(t, ok)
	_, ok = f["socialops_projector_position"]
	assert.False(t, ok)
	// The failure is counted (seen from the next scrape on).
	f = metricstest.Scrape(t, srv.URL+"/metrics")
	v, _ := f.Value("promhttp_metric_handler_errors_total", "cause", "gathering")
	assert.Equal(t, 1.0, v)
}

type failingLog struct{ *pgstore.Store }

func (failingLog) HeadPosition(context.Context) (uint64, error) {
	return 0, errors.New("database away")
}

func TestHTTPLabelsStayBounded(t *testing.T) {
	m := metrics.New()
	m.HTTP.ObserveRequest("/v1/apps/socialops/:alias/inbox", "GET", 200, 3*time.Millisecond)
	m.HTTP.ObserveRequest("", "GET", 404, time.Millisecond)
	m.HTTP.ObserveRequest("", "X-ANYTHING-A-CLIENT-SENDS", 405, time.Millisecond)
	f := metricstest.Gather(t, m.Registry)
	v, _ := f.Value("socialops_http_requests_total", "route", "/v1/apps/socialops/:alias/inbox", "method", "GET", "status", "200")
	assert.Equal(t, 1.0, v)
	v, _ = f.Value("socialops_http_requests_total", "route", "unmatched", "method", "GET", "status", "404")
	assert.Equal(t, 1.0, v)
	v, _ = f.Value("socialops_http_requests_total", "route", "unmatched", "method", "other", "status", "405")
	assert.Equal(t, 1.0, v)
	assert.Equal(t, []string{"GET", "GET", "other"}, f.LabelValues("socialops_http_requests_total", "method"))
}

func TestOutcomeCountersAndReservedSeries(t *testing.T) {
	m := metrics.New()
	m.Deliveries.Observe("delivered")
	m.Deliveries.Observe("failed")
	m.Deliveries.Observe("made-up") // ignored: the label set stays bounded
	m.Webhooks.Attempt(metrics.WebhookRetried)
	m.Webhooks.Attempt("nope")
	m.WebSockets.Connected()
	m.WebSockets.Connected()
	m.WebSockets.Disconnected()
	f := metricstest.Gather(t, m.Registry)
	assert.Equal(t, []string{"delivered", "failed", "retried", "unknown"}, f.LabelValues("socialops_reply_deliveries_total", "outcome"))
	v, _ := f.Value("socialops_reply_deliveries_total", "outcome", "delivered")
	assert.Equal(t, 1.0, v)
	assert.Equal(t, []string{"delivered", "failed", "retried"}, f.LabelValues("socialops_webhook_attempts_total", "outcome"))
	v, _ = f.Value("socialops_webhook_attempts_total", "outcome", "retried")
	assert.Equal(t, 1.0, v)
	v, _ = f.Value("socialops_websocket_connections")
	assert.Equal(t, 1.0, v)
	v, _ = f.Value("socialops_build_info")
	assert.Equal(t, 1.0, v)
}

package httpapi_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	httpapi "github.com/socialops/socialops/adapters/http"
	"github.com/socialops/socialops/adapters/postgres/pgtest"
)

// lockedBuffer collects log lines written from several goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type failingPinger struct{ err error }

func (p failingPinger) Ping(context.Context) error { return p.err }

func TestHealthAndReadiness(t *testing.T) {
	h := newHarness(t)
	r := h.do("GET", "/healthz", nil, nil)
	assert.Equal(t, 200, r.status)
	r = h.do("GET", "/readyz", nil, nil)
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, "ready", r.json["status"])
	assert.Equal(t, map[string]any{"database": "ok", "eventstore": "ok", "projections": "ok"}, r.json["checks"])

	// A halted projector (a failure that is not the event's own data, retried
	// until it goes away): /readyz says so, without the error text.
	h = newHarnessWith(t, pgtest.NewPool(t), func(d *httpapi.Deps) { d.Projections = haltedProjections{} })
	r = h.do("GET", "/readyz", nil, nil)
	require.Equal(t, 503, r.status, string(r.body))
	assert.Equal(t, "not_ready", r.json["status"])
	assert.Equal(t, "halted", r.json["checks"].(map[string]any)["projections"])
	assert.NotContains(t, string(r.body), "ThreadTeleported")
	assert.NotContains(t, string(r.body), "position")
}

type haltedProjections struct{}

func (haltedProjections) Healthy() error {
	return errors.New("projector inbox halted at position 7: ThreadTeleported: conn closed")
}

// /readyz is public: it answers status words only; the details go to the log.
func TestReadinessShowsNoErrorText(t *testing.T) {
	logs := &lockedBuffer{}
	secretish := "failed to connect to `user=socialops database=prod host=10.1.2.3`: password authentication failed"
	h := newHarnessWith(t, pgtest.NewPool(t), func(d *httpapi.Deps) {
		d.Logger = slog.New(slog.NewJSONHandler(logs, nil))
		d.Database = failingPinger{errors.New(secretish)}
		d.EventStore = failingPinger{errors.New("rpc error: esdb.internal:2113 refused")}
	})
	r := h.do("GET", "/readyz", nil, nil)
	require.Equal(t, 503, r.status, string(r.body))
	assert.Equal(t, "not_ready", r.json["status"])
	checks := r.json["checks"].(map[string]any)
	assert.Equal(t, "down", checks["database"])
	assert.Equal(t, "down", checks["eventstore"])
	for _, leak := range []string{"socialops", "10.1.2.3", "password", "esdb.internal", "refused"} {
		assert.NotContains(t, string(r.body), leak)
	}
	assert.Contains(t, logs.String(), "10.1.2.3", "the details are logged")
	assert.Contains(t, logs.String(), "esdb.internal")
}

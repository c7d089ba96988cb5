package httpapi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/domain"
)

func TestHealthAndReadiness(t *testing.T) {
	h := newHarness(t)
	r := h.do("GET", "/healthz", nil, nil)
	assert.Equal(t, 200, r.status)
	r = h.do("GET", "/readyz", nil, nil)
	require.Equal(t, 200, r.status, string(r.body))
	checks := r.json["checks"].(map[string]any)
	assert.Equal(t, "ok", checks["database"].(map[string]any)["status"])
	assert.Equal(t, "ok", checks["eventstore"].(map[string]any)["status"])

	// A poison event halts a projector: /readyz says which, and where.
	res, err := h.store.Append(context.Background(), "thread-soth_x", domain.AnyRevision(), domain.ProposedEvent{
		ID: domain.RandomUUID(domain.CryptoRandom), Type: "ThreadTeleported", Data: []byte(`{}`), Metadata: []byte(`{}`)})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		r = h.do("GET", "/readyz", nil, nil)
		return r.status == 503
	}, 20*time.Second, 20*time.Millisecond)
	detail := r.json["checks"].(map[string]any)["projections"].(map[string]any)
	assert.Equal(t, "halted", detail["status"])
	assert.True(t, strings.Contains(detail["error"].(string), "ThreadTeleported"), detail["error"])
	assert.Contains(t, detail["error"], "position")
	_ = res
}

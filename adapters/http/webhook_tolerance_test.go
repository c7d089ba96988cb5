package httpapi_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	httpapi "github.com/socialops/socialops/adapters/http"
	"github.com/socialops/socialops/adapters/postgres/pgtest"
)

// SOCIALOPS_WEBHOOK_TOLERANCE (Deps.WebhookTolerance) bounds the age of a
// signed generic-webhook timestamp, small or large.
func TestWebhookToleranceSetting(t *testing.T) {
	cases := []struct {
		name      string
		tolerance time.Duration
		age       time.Duration
		status    int
	}{
		{"small tolerance refuses 10 s", 5 * time.Second, 10 * time.Second, 401},
		{"small tolerance accepts 2 s", 5 * time.Second, 2 * time.Second, 202},
		{"large tolerance accepts 30 min", time.Hour, 30 * time.Minute, 202},
		{"large tolerance refuses 2 h", time.Hour, 2 * time.Hour, 401},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarnessWith(t, pgtest.NewPool(t), func(d *httpapi.Deps) { d.WebhookTolerance = tc.tolerance })
			h.instance("u", "tol")
			require.NoError(t, h.tenancy.SetWebhookSecret(context.Background(), "tol", "generic-webhook", "gen-secret-789"))
			body := []byte(`{"event_id":"tol-` + strconv.Itoa(i) + `","thread_id":"t","text":"signed"}`)
			ts := strconv.FormatInt(h.now.Add(-tc.age).Unix(), 10)
			r := h.do("POST", "/v1/apps/socialops/tol/webhook/generic-webhook", body, map[string]string{
				"Content-Type": "application/json", "X-Timestamp": ts, "X-Signature": genericSignature("gen-secret-789", ts, body)})
			require.Equal(t, tc.status, r.status, string(r.body))
			if tc.status == 401 {
				assert.Equal(t, "invalid_signature", r.errorCode())
				assert.Equal(t, uint64(0), h.head())
			}
		})
	}
}

package httpapi_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	httpapi "github.com/socialops/socialops/adapters/http"
	"github.com/socialops/socialops/adapters/postgres/pgtest"
)

// A body within an operator's raised cap whose events exceed what one
// event-store append carries is refused with 413 and stores nothing, on
// Postgres as on KurrentDB (which would refuse such an append forever).
func TestWebhookOverTheAppendLimitIs413(t *testing.T) {
	h := newHarnessWith(t, pgtest.NewPool(t), func(d *httpapi.Deps) { d.MaxBodyBytes = 4 << 20 })
	h.instance("owner", "alpha")
	key := h.key("owner", "socialops:write")
	body := `{"event_id":"huge","thread_id":"t","text":"hello","extra":"` + strings.Repeat("a", 1100<<10) + `"}`
	before := h.head()

	r := h.do("POST", "/v1/apps/socialops/alpha/webhook/generic-webhook", []byte(body), jsonHeaders(key))
	require.Equal(t, 413, r.status, string(r.body))
	assert.Equal(t, "payload_too_large", r.errorCode())
	assert.NotContains(t, string(r.body), "soth_", "no internal stream id in the answer")
	assert.Equal(t, before, h.head(), "nothing stored")
}

// At the default cap, the largest body with the most expensive text (every
// character escaped in JSON) and characters HTML escaping would blow up
// still fits one append.
func TestWebhookAtTheDefaultCapFitsOneAppend(t *testing.T) {
	h := newHarness(t)
	h.instance("owner", "alpha")
	key := h.key("owner", "socialops:write")
	prefix := `{"event_id":"cap","thread_id":"t","text":"` + strings.Repeat(`\"`, 64<<10) + `","extra":"`
	suffix := `"}`
	pad := httpapi.DefaultMaxBodyBytes - len(prefix) - len(suffix)
	body := prefix + strings.Repeat("<>&", pad/3) + strings.Repeat("a", pad%3) + suffix
	require.Len(t, body, httpapi.DefaultMaxBodyBytes)

	r := h.do("POST", "/v1/apps/socialops/alpha/webhook/generic-webhook", []byte(body), jsonHeaders(key))
	require.Equal(t, 202, r.status, string(r.body))
}

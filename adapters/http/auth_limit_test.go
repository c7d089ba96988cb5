package httpapi_test

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	httpapi "github.com/socialops/socialops/adapters/http"
	"github.com/socialops/socialops/adapters/postgres/pgtest"
)

func TestFailedAuthenticationsLimitedPerAddress(t *testing.T) {
	h := newHarnessWith(t, pgtest.NewPool(t), func(d *httpapi.Deps) {
		d.AuthFailuresPerMinute = 1
		d.AuthFailureBurst = 3
	})
	h.instance("u", "support")
	key := h.key("u", "socialops:write", "socialops:read")
	manage := h.token("u", "service:manage")

	// Successful requests cost nothing.
	for i := 0; i < 5; i++ {
		require.Equal(t, 200, h.get("/v1/apps/socialops/support/inbox", key).status)
	}
	// Failures of every kind of credential share the address's bucket.
	assert.Equal(t, 401, h.get("/v1/apps/socialops/support/inbox", "sk_guess1").status)
	assert.Equal(t, 401, h.do("GET", "/console/socialops/support/inbox", nil, map[string]string{"Authorization": "Bearer nope"}).status)
	assert.Equal(t, 401, h.do("POST", "/v1/apps/socialops/support/webhook/generic-webhook", []byte(seedBody), jsonHeaders("sk_guess2")).status)

	// Then the address is refused in front of authentication, even with good credentials.
	before := h.head()
	for _, r := range []response{
		h.get("/v1/apps/socialops/support/inbox", "sk_guess3"),
		h.get("/v1/apps/socialops/support/inbox", key),
		h.do("POST", "/v1/apps/socialops/support/webhook/generic-webhook", []byte(seedBody), jsonHeaders(key)),
		h.console("GET", "/support/inbox", manage, ""),
		// A forwarded address from an untrusted peer changes nothing.
		h.do("GET", "/v1/apps/socialops/support/inbox", nil, map[string]string{"X-API-Key": "sk_guess4", "X-Forwarded-For": "203.0.113.9"}),
	} {
		require.Equal(t, 429, r.status, string(r.body))
		assert.Equal(t, "auth_rate_limited", r.errorCode())
		secs, err := strconv.Atoi(r.header.Get("Retry-After"))
		require.NoError(t, err)
		assert.GreaterOrEqual(t, secs, 1)
	}
	assert.Equal(t, before, h.head(), "nothing stored")
	// Health checks are not behind authentication.
	assert.Equal(t, 200, h.do("GET", "/healthz", nil, nil).status)
}

func TestFailedAuthenticationsPerForwardedAddressBehindTrustedProxy(t *testing.T) {
	h := newHarnessWith(t, pgtest.NewPool(t), func(d *httpapi.Deps) {
		d.AuthFailuresPerMinute = 1
		d.AuthFailureBurst = 1
		d.TrustedProxies = []string{"127.0.0.1"}
	})
	h.instance("u", "support")
	from := func(addr string) int {
		return h.do("GET", "/v1/apps/socialops/support/inbox", nil, map[string]string{"X-API-Key": "sk_guess", "X-Forwarded-For": addr}).status
	}
	assert.Equal(t, 401, from("203.0.113.1"))
	assert.Equal(t, 429, from("203.0.113.1"))
	assert.Equal(t, 401, from("203.0.113.2"), "another client behind the proxy has its own bucket")
}

package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/postgres/pgtest"
)

// Guessing API keys from one address is slowed down: after the burst of
// failed authentications, that address gets 429 with Retry-After.
func TestServeLimitsFailedAuthenticationsPerAddress(t *testing.T) {
	envm := map[string]string{
		"SOCIALOPS_DATABASE_URL":            pgtest.NewDatabase(t),
		"SOCIALOPS_HTTP_ADDR":               freeAddr(t),
		"SOCIALOPS_LOG_LEVEL":               "error",
		"SOCIALOPS_AUTH_FAILURE_BURST":      "5",
		"SOCIALOPS_AUTH_FAILURE_PER_MINUTE": "1",
	}
	cli(t, envm, "instance", "create", "--owner", "user-1", "--alias", "support")
	base, stop := startServe(t, envm)
	defer stop()
	statuses := map[int]int{}
	var last *http.Response
	for i := 0; i < 8; i++ {
		req, err := http.NewRequest("GET", base+"/v1/apps/socialops/support/inbox", nil)
		require.NoError(t, err)
		req.Header.Set("X-API-Key", "sk_guess"+strings.Repeat("x", i))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		statuses[resp.StatusCode]++
		last = resp
	}
	assert.Equal(t, map[int]int{401: 5, 429: 3}, statuses)
	assert.NotEmpty(t, last.Header.Get("Retry-After"))
}

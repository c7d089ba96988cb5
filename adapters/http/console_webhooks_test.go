package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The console manages outbound webhooks like the API-key face: service:read
// lists, service:manage changes; secrets only on create and rotate; another
// user's instance is not found.
func TestConsoleManagesOutboundWebhooks(t *testing.T) {
	h := newHarness(t)
	h.instance("carol", "hooks")
	h.instance("dave", "daves")
	manage := h.token("carol", "service:manage")
	read := h.token("carol", "service:read")
	dave := h.token("dave", "service:read", "service:manage")
	count := func() int {
		var n int
		require.NoError(t, h.pool.QueryRow(t.Context(), `SELECT count(*) FROM webhook_subscriptions`).Scan(&n))
		return n
	}

	r := h.console("POST", "/hooks/webhooks", read, `{"url":"http://127.0.0.1:9/hook"}`)
	assert.Equal(t, http.StatusForbidden, r.status)
	assert.Equal(t, "missing_permission", r.errorCode())
	r = h.console("POST", "/hooks/webhooks", manage, `{"url":"ftp://x.example.com/"}`)
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.Equal(t, 0, count(), "refused requests store nothing")

	r = h.console("POST", "/hooks/webhooks", manage, `{"url":"http://127.0.0.1:9/hook","events":["message.received"],"description":"CRM"}`)
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	wh := data(r)["webhook"].(map[string]any)
	id := wh["id"].(string)
	assert.NotEmpty(t, wh["secret"])

	r = h.console("GET", "/hooks/webhooks", read, "")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	assert.NotContains(t, string(r.body), "whsec_", "no secret in lists")
	r = h.console("PATCH", "/hooks/webhooks/"+id, manage, `{"description":"CRM sync"}`)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	r = h.console("POST", "/hooks/webhooks/"+id+"/rotate", manage, "")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	assert.NotEmpty(t, data(r)["webhook"].(map[string]any)["secret"])
	r = h.console("GET", "/hooks/webhooks/"+id+"/deliveries", read, "")
	require.Equal(t, http.StatusOK, r.status, string(r.body))

	r = h.console("GET", "/daves/webhooks/"+id, dave, "")
	assert.Equal(t, http.StatusNotFound, r.status, "another instance's subscription")
	r = h.console("GET", "/hooks/webhooks/"+id, dave, "")
	assert.Equal(t, http.StatusNotFound, r.status, "another user's instance")
	assert.Equal(t, "instance_not_found", r.errorCode())

	r = h.console("DELETE", "/hooks/webhooks/"+id, manage, "")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	assert.Equal(t, id, data(r)["deleted"])
	assert.Equal(t, 0, count())
}

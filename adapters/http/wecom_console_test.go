package httpapi_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The console sets WeCom settings (stored encrypted) and shows them without
// their secrets; bad input stores nothing.
func TestConsoleWeComSettings(t *testing.T) {
	h := newHarness(t)
	inst := h.instance("erin", "wc")
	h.instance("frank", "franks")
	manage := h.token("erin", "service:manage")
	read := h.token("erin", "service:read")
	frank := h.token("frank", "service:read", "service:manage")
	const good = `{"corp_id":"wx5823bf96d3bd56c7","agent_id":1000002,"token":"QDG6eK","aes_key":"jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C","secret":"app-secret-value"}`

	r := h.console("GET", "/wc/wecom", read, "")
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	assert.Equal(t, false, data(r)["wecom"].(map[string]any)["configured"])
	assert.Equal(t, "/v1/apps/socialops/wc/wecom/callback", data(r)["wecom"].(map[string]any)["callback_path"])

	for _, c := range []struct {
		body, code string
		status     int
	}{
		{`{"corp_id":"wx1","agent_id":1,"token":"T","aes_key":"short"}`, "invalid_field", 400},
		{`{"corp_id":"wx1","agent_id":0,"token":"T","aes_key":"jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"}`, "invalid_field", 400},
		{`{"corp_id":"wx1","token":"T","aes_key":"jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"}`, "missing_field", 422},
		{`{"corp_id":"wx1","agent_id":1,"token":"T","aes_key":"jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C","colour":"red"}`, "invalid_field", 400},
	} {
		r := h.console("PUT", "/wc/wecom", manage, c.body)
		assert.Equal(t, c.status, r.status, c.body)
		assert.Equal(t, c.code, r.errorCode(), c.body)
	}
	_, found, err := h.tenancy.WeComSettings(context.Background(), inst.ID)
	require.NoError(t, err)
	assert.False(t, found, "refused settings are not stored")
	r = h.console("PUT", "/wc/wecom", read, good)
	assert.Equal(t, http.StatusForbidden, r.status)
	r = h.console("PUT", "/franks/wecom", manage, good)
	assert.Equal(t, http.StatusNotFound, r.status, "another user's instance")
	r = h.console("GET", "/wc/wecom", frank, "")
	assert.Equal(t, http.StatusNotFound, r.status)

	r = h.console("PUT", "/wc/wecom", manage, good)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	for _, secret := range []string{"QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "app-secret-value"} {
		assert.NotContains(t, string(r.body), secret, "no secret in the answer")
	}
	r = h.console("GET", "/wc/wecom", read, "")
	require.Equal(t, http.StatusOK, r.status)
	view := data(r)["wecom"].(map[string]any)
	assert.Equal(t, true, view["configured"])
	assert.Equal(t, "wx5823bf96d3bd56c7", view["corp_id"])
	assert.EqualValues(t, 1000002, view["agent_id"])
	assert.Equal(t, true, view["sends_replies"])
	s, found, err := h.tenancy.WeComSettings(context.Background(), inst.ID)
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, "QDG6eK", s.Token, "the callback verifies with what the console set")
	var raw string
	require.NoError(t, h.pool.QueryRow(context.Background(), `SELECT encode(secrets_ciphertext, 'escape') FROM wecom_settings`).Scan(&raw))
	assert.NotContains(t, raw, "QDG6eK", "stored encrypted")
}

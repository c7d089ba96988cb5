package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/postgres"
)

func TestOutboundWebhookSubscriptionsAPI(t *testing.T) {
	h := newHarness(t)
	h.instance("owner-w", "hooks")
	write := map[string]string{"X-API-Key": h.key("owner-w", postgres.ScopeWrite, postgres.ScopeRead), "Content-Type": "application/json"}
	read := map[string]string{"X-API-Key": h.key("owner-w", postgres.ScopeRead), "Content-Type": "application/json"}
	base := "/v1/apps/socialops/hooks/webhooks"
	count := func() int {
		var n int
		require.NoError(t, h.pool.QueryRow(t.Context(), `SELECT count(*) FROM webhook_subscriptions`).Scan(&n))
		return n
	}

	// Bad input: a precise 4xx naming the field, nothing stored.
	for _, c := range []struct {
		body, code, names string
		status            int
	}{
		{`{"events":["message.received"]}`, "missing_field", "url", 422},
		{`{"url":"ftp://x.example.com/"}`, "invalid_field", "url", 400},
		{`{"url":"not a url"}`, "invalid_field", "url", 400},
		{`{"url":"https://crm.example.com/h","events":["message.received","message.exploded"]}`, "invalid_field", "events[1]", 400},
		{`{"url":"https://crm.example.com/h","events":"message.received"}`, "invalid_field", "events", 400},
		{`{"url":"https://crm.example.com/h","colour":"red"}`, "invalid_field", "colour", 400},
		{`{"url":"https://crm.example.com/h","description":"` + strings.Repeat("d", 513) + `"}`, "invalid_field", "description", 400},
		{`{"url":`, "invalid_payload", "", 400},
	} {
		r := h.do("POST", base, []byte(c.body), write)
		assert.Equal(t, c.status, r.status, c.body)
		assert.Equal(t, c.code, r.errorCode(), c.body)
		assert.Contains(t, r.errorMessage(), c.names, c.body)
	}
	assert.Equal(t, 0, count())
	r := h.do("POST", base, []byte(`{"url":"https://crm.example.com/h"}`), read)
	assert.Equal(t, http.StatusForbidden, r.status)
	assert.Equal(t, "missing_scope", r.errorCode())
	assert.Equal(t, 0, count())

	// Create: the secret once.
	r = h.do("POST", base, []byte(`{"url":"http://127.0.0.1:9/hook","events":["message.received","note.created"],"description":"CRM"}`), write)
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	wh := r.json["data"].(map[string]any)["webhook"].(map[string]any)
	id, secret := wh["id"].(string), wh["secret"].(string)
	assert.True(t, strings.HasPrefix(id, "whsub_"))
	assert.True(t, strings.HasPrefix(secret, "whsec_"))
	var stored []byte
	require.NoError(t, h.pool.QueryRow(t.Context(), `SELECT secret_ciphertext FROM webhook_subscriptions WHERE subscription_id = $1`, id).Scan(&stored))
	assert.NotContains(t, string(stored), strings.TrimPrefix(secret, "whsec_"), "stored encrypted")

	// List and get never show it.
	r = h.do("GET", base, nil, read)
	require.Equal(t, http.StatusOK, r.status)
	assert.NotContains(t, string(r.body), secret)
	assert.NotContains(t, string(r.body), `"secret"`)
	assert.Len(t, r.json["data"].(map[string]any)["webhooks"], 1)
	r = h.do("GET", base+"/"+id, nil, read)
	require.Equal(t, http.StatusOK, r.status)
	assert.NotContains(t, string(r.body), `"secret"`)
	r = h.do("GET", base+"/whsub_nope", nil, read)
	assert.Equal(t, http.StatusNotFound, r.status)
	assert.Equal(t, "webhook_not_found", r.errorCode())

	// Another owner's key sees nothing.
	h.instance("owner-x", "other")
	other := map[string]string{"X-API-Key": h.key("owner-x", postgres.ScopeRead)}
	r = h.do("GET", "/v1/apps/socialops/other/webhooks/"+id, nil, other)
	assert.Equal(t, http.StatusNotFound, r.status)

	// Patch.
	r = h.do("PATCH", base+"/"+id, []byte(`{"enabled":false,"events":[]}`), write)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	wh = r.json["data"].(map[string]any)["webhook"].(map[string]any)
	assert.Equal(t, false, wh["enabled"])
	assert.Equal(t, []any{}, wh["events"])
	r = h.do("PATCH", base+"/"+id, []byte(`{}`), write)
	assert.Equal(t, http.StatusUnprocessableEntity, r.status)
	r = h.do("PATCH", base+"/"+id, []byte(`{"url":"gopher://x"}`), write)
	assert.Equal(t, http.StatusBadRequest, r.status)

	// Rotate: a new secret, once, and the previous one's expiry.
	r = h.do("POST", base+"/"+id+"/rotate", nil, write)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	wh = r.json["data"].(map[string]any)["webhook"].(map[string]any)
	assert.NotEqual(t, secret, wh["secret"])
	assert.NotEmpty(t, wh["previous_secret_expires_at"])

	// Test event, the delivery log, resend, recover.
	r = h.do("POST", base+"/"+id+"/test", nil, write)
	require.Equal(t, http.StatusAccepted, r.status, string(r.body))
	d := r.json["data"].(map[string]any)["delivery"].(map[string]any)
	assert.Equal(t, "webhook.test", d["event"])
	r = h.do("GET", base+"/"+id+"/deliveries?status=pending", nil, read)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	ds := r.json["data"].(map[string]any)["deliveries"].([]any)
	require.Len(t, ds, 1)
	assert.Equal(t, d["id"], ds[0].(map[string]any)["id"])
	r = h.do("GET", base+"/"+id+"/deliveries?status=lost", nil, read)
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.Equal(t, "invalid_parameter", r.errorCode())
	r = h.do("POST", base+"/"+id+"/deliveries/"+d["id"].(string)+"/resend", nil, write)
	assert.Equal(t, http.StatusAccepted, r.status, string(r.body))
	r = h.do("POST", base+"/"+id+"/deliveries/msg_nope/resend", nil, write)
	assert.Equal(t, http.StatusNotFound, r.status)
	assert.Equal(t, "webhook_delivery_not_found", r.errorCode())
	r = h.do("POST", base+"/"+id+"/recover", []byte(`{"since":"2020-01-01T00:00:00Z"}`), write)
	require.Equal(t, http.StatusAccepted, r.status, string(r.body))
	assert.EqualValues(t, 0, r.json["data"].(map[string]any)["recovered"])
	r = h.do("POST", base+"/"+id+"/recover", []byte(`{"since":"yesterday"}`), write)
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.Contains(t, r.errorMessage(), "since")
	r = h.do("POST", base+"/"+id+"/recover", []byte(`{}`), write)
	assert.Equal(t, http.StatusUnprocessableEntity, r.status)

	// Delete.
	r = h.do("DELETE", base+"/"+id, nil, write)
	require.Equal(t, http.StatusOK, r.status)
	r = h.do("DELETE", base+"/"+id, nil, write)
	assert.Equal(t, http.StatusNotFound, r.status)
	assert.Equal(t, 0, count())
	_ = json.Valid
}

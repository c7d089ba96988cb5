package httpapi_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIdempotencyKeyClaimedOnlyByAValidRequest(t *testing.T) {
	h := newHarness(t)
	h.instance("alice", "support")
	key := h.key("alice", "socialops:write", "socialops:read")
	thread, _ := h.openThread("support", key, "e1")
	manage := h.token("alice", "service:manage")
	reply := func(threadID, idemKey, body string) response {
		hdr := bearer(manage)
		hdr["Idempotency-Key"] = idemKey
		return h.do("POST", "/console/socialops/support/threads/"+threadID+"/replies", []byte(body), hdr)
	}

	// A first try on a wrong thread does not hold the key.
	before := h.head()
	r := reply("soth_doesnotexist", "k-wrong-thread", `{"text":"hello"}`)
	require.Equal(t, 404, r.status, string(r.body))
	assert.Equal(t, before, h.head())
	r = reply(thread, "k-wrong-thread", `{"text":"hello"}`)
	require.Equal(t, 201, r.status, string(r.body))
	assert.Empty(t, r.header.Get("Idempotent-Replayed"))

	// Nor does an invalid body.
	r = reply(thread, "k-bad-text", `{"text":"   "}`)
	require.Equal(t, 422, r.status, string(r.body))
	r = reply(thread, "k-bad-text", `{"text":"fixed"}`)
	require.Equal(t, 201, r.status, string(r.body))
	assert.Empty(t, r.header.Get("Idempotent-Replayed"))
}

func TestIdempotencyKeyReusedWithAnotherBody(t *testing.T) {
	h := newHarness(t)
	h.instance("alice", "support")
	key := h.key("alice", "socialops:write", "socialops:read")
	thread, _ := h.openThread("support", key, "e1")
	hdr := jsonHeaders(key)
	hdr["Idempotency-Key"] = "k-1"
	path := "/v1/apps/socialops/support/threads/" + thread + "/replies"

	first := h.do("POST", path, []byte(`{"text":"first text"}`), hdr)
	require.Equal(t, 201, first.status, string(first.body))
	before := h.head()

	r := h.do("POST", path, []byte(`{"text":"second text"}`), hdr)
	require.Equal(t, 422, r.status, string(r.body))
	assert.Equal(t, "idempotency_key_reused", r.errorCode())
	assert.Equal(t, before, h.head(), "nothing appended")

	again := h.do("POST", path, []byte(`{"text":"first text"}`), hdr)
	require.Equal(t, 201, again.status, string(again.body))
	assert.Equal(t, "true", again.header.Get("Idempotent-Replayed"))
	assert.Equal(t, data(first)["action"].(map[string]any)["action_id"], data(again)["action"].(map[string]any)["action_id"])
	assert.Equal(t, before, h.head())
}

package httpapi_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/domain"
)

// A provider event is unique per (instance, provider, source): the same
// event id on another thread is the same event, answered as a duplicate with
// the original ids, and stores nothing.
func TestWebhookSameEventIDOnAnotherThreadIsADuplicate(t *testing.T) {
	h := newHarness(t)
	h.instance("u", "support")
	key := h.key("u", "socialops:write")
	path := "/v1/apps/socialops/support/webhook/generic-webhook"

	first := h.do("POST", path, []byte(`{"event_id":"evt-1","thread_id":"A","text":"first"}`), jsonHeaders(key))
	require.Equal(t, 202, first.status, string(first.body))
	assert.NotContains(t, first.json, "duplicate")
	head := h.head()

	second := h.do("POST", path, []byte(`{"event_id":"evt-1","thread_id":"B","text":"second"}`), jsonHeaders(key))
	require.Equal(t, 202, second.status, string(second.body))
	assert.Equal(t, true, second.json["duplicate"])
	assert.Equal(t, first.json["thread_id"], second.json["thread_id"], "the original thread")
	assert.Equal(t, first.json["message_id"], second.json["message_id"], "the original message")
	assert.Equal(t, first.header.Get("X-SocialOps-Position"), second.header.Get("X-SocialOps-Position"))
	assert.Equal(t, head, h.head(), "nothing stored")

	// The original redelivered stays a duplicate too; a new event id on B opens B.
	again := h.do("POST", path, []byte(`{"event_id":"evt-1","thread_id":"A","text":"first"}`), jsonHeaders(key))
	require.Equal(t, 202, again.status, string(again.body))
	assert.Equal(t, true, again.json["duplicate"])
	assert.Equal(t, head, h.head())
	other := h.do("POST", path, []byte(`{"event_id":"evt-2","thread_id":"B","text":"third"}`), jsonHeaders(key))
	require.Equal(t, 202, other.status, string(other.body))
	assert.NotEqual(t, first.json["thread_id"], other.json["thread_id"])

	counts := countTypes(h.events())
	assert.Equal(t, 2, counts["InboundMessageReceived"])
	assert.Equal(t, 2, counts["ChargeApplied"])
	assert.Equal(t, 2, counts["ThreadOpened"])

	pos := other.header.Get("X-SocialOps-Position")
	r := h.do("GET", "/v1/apps/socialops/support/inbox", nil, map[string]string{"X-API-Key": h.key("u", "socialops:read"), "X-SocialOps-Position": pos})
	require.Equal(t, 200, r.status, string(r.body))
	assert.Empty(t, r.header.Get("X-SocialOps-Stale"))
	require.NoError(t, h.runner.Healthy())
}

// Two Telegram bots feeding one instance count update_id each on their own:
// the webhook URL's source parameter names the bot, and the same update_id
// of two sources is two messages, while a repeat within one source is a
// duplicate.
func TestWebhookTelegramSourcesKeepTheirOwnUpdateIDs(t *testing.T) {
	h := newHarness(t)
	h.instance("u", "support")
	key := h.key("u", "socialops:write")
	update := func(chat int64, text string) []byte {
		return []byte(fmt.Sprintf(`{"update_id":1,"message":{"message_id":7,"from":{"id":42,"is_bot":false,"first_name":"Lan"},
			"chat":{"id":%d,"title":"Support","type":"supergroup"},"date":1763726400,"text":%q}}`, chat, text))
	}
	post := func(source string, body []byte) response {
		path := "/v1/apps/socialops/support/webhook/telegram"
		if source != "" {
			path += "?source=" + source
		}
		return h.do("POST", path, body, jsonHeaders(key))
	}

	a := post("bot-a", update(-100, "to bot a"))
	require.Equal(t, 202, a.status, string(a.body))
	b := post("bot-b", update(-100, "to bot b"))
	require.Equal(t, 202, b.status, string(b.body))
	assert.NotContains(t, b.json, "duplicate")
	assert.Equal(t, a.json["thread_id"], b.json["thread_id"], "one chat, one thread")
	assert.NotEqual(t, a.json["message_id"], b.json["message_id"], "two bots, two messages")
	c := post("bot-c", update(-200, "another chat of bot c"))
	require.Equal(t, 202, c.status, string(c.body))
	assert.NotContains(t, c.json, "duplicate")
	assert.NotEqual(t, a.json["thread_id"], c.json["thread_id"])

	head := h.head()
	again := post("bot-b", update(-100, "to bot b"))
	require.Equal(t, 202, again.status, string(again.body))
	assert.Equal(t, true, again.json["duplicate"])
	assert.Equal(t, b.json["message_id"], again.json["message_id"])
	assert.Equal(t, head, h.head())

	var charges []string
	for _, e := range h.events() {
		if ch, ok := e.Payload.(domain.ChargeApplied); ok {
			charges = append(charges, ch.ChargeID)
		}
	}
	assert.Len(t, charges, 3, "one charge per message")

	bad := post("bot%00a", update(-100, "x"))
	require.Equal(t, 400, bad.status, string(bad.body))
	assert.Equal(t, "invalid_parameter", bad.errorCode())
	assert.Contains(t, bad.errorMessage(), "source")
	assert.Equal(t, head, h.head())
	require.NoError(t, h.runner.Healthy())
}

package httpapi_test

import (
	"context"
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Before authentication an unknown alias answers exactly as a known one does,
// so aliases cannot be enumerated; only an authenticated owner learns 404.
func TestUnknownAliasAnswersLikeAKnownOne(t *testing.T) {
	h := newHarness(t)
	h.instance("u", "known")
	h.instance("other", "theirs")
	ctx := context.Background()
	for p, s := range map[string]string{"telegram": "tg-secret-123", "github": "gh-secret-456", "generic-webhook": "gen-secret-789"} {
		require.NoError(t, h.tenancy.SetWebhookSecret(ctx, "known", p, s))
	}
	ownKey := h.key("u", "socialops:write", "socialops:read")
	otherKey := h.key("other", "socialops:write", "socialops:read")
	ghBody, err := os.ReadFile("../github/testdata/issues.opened.payload.json")
	require.NoError(t, err)
	genBody := []byte(`{"event_id":"a-1","thread_id":"t1","text":"signed"}`)
	ts := strconv.FormatInt(h.now.Unix(), 10)
	json := func(extra map[string]string) map[string]string {
		m := map[string]string{"Content-Type": "application/json"}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}

	type call struct {
		name   string
		method string
		path   string // after the alias
		prefix string
		body   []byte
		header map[string]string
	}
	api, console := "/v1/apps/socialops/", "/console/socialops/"
	unauthenticated := []call{
		{"webhook without credentials", "POST", "/webhook/generic-webhook", api, []byte(seedBody), json(nil)},
		{"webhook with an unknown key", "POST", "/webhook/generic-webhook", api, []byte(seedBody), json(map[string]string{"X-API-Key": "sk_unknown"})},
		{"telegram wrong token", "POST", "/webhook/telegram", api, []byte(telegramUpdate), json(map[string]string{"X-Telegram-Bot-Api-Secret-Token": "wrong"})},
		{"github wrong signature", "POST", "/webhook/github", api, ghBody, json(map[string]string{"X-Hub-Signature-256": hubSignature("wrong", ghBody), "X-GitHub-Event": "issues", "X-GitHub-Delivery": "d-1"})},
		{"generic wrong signature", "POST", "/webhook/generic-webhook", api, genBody, json(map[string]string{"X-Signature": genericSignature("wrong", ts, genBody), "X-Timestamp": ts})},
		{"generic stale timestamp", "POST", "/webhook/generic-webhook", api, genBody, json(map[string]string{"X-Signature": genericSignature("wrong", "1000", genBody), "X-Timestamp": "1000"})},
		{"inbox without a key", "GET", "/inbox", api, nil, nil},
		{"inbox with an unknown key", "GET", "/inbox", api, nil, map[string]string{"X-API-Key": "sk_unknown"}},
		{"console without a token", "GET", "/inbox", console, nil, nil},
		{"console with a bad token", "GET", "/inbox", console, nil, map[string]string{"Authorization": "Bearer not.a.jwt"}},
	}
	for _, c := range unauthenticated {
		t.Run(c.name, func(t *testing.T) {
			known := h.do(c.method, c.prefix+"known"+c.path, c.body, c.header)
			unknown := h.do(c.method, c.prefix+"no-such-alias"+c.path, c.body, c.header)
			assert.Equal(t, 401, known.status, string(known.body))
			assert.Equal(t, known.status, unknown.status, string(unknown.body))
			assert.Equal(t, string(known.body), string(unknown.body))
			assert.Equal(t, known.header.Get("WWW-Authenticate"), unknown.header.Get("WWW-Authenticate"))
		})
	}
	assert.Equal(t, uint64(0), h.head(), "nothing stored")

	// Authenticated callers learn 404, and another owner's instance looks missing.
	for _, alias := range []string{"no-such-alias", "theirs"} {
		r := h.do("POST", api+alias+"/webhook/generic-webhook", []byte(seedBody), jsonHeaders(ownKey))
		assert.Equal(t, 404, r.status, string(r.body))
		assert.Equal(t, "instance_not_found", r.errorCode())
		r = h.get(api+alias+"/inbox", ownKey)
		assert.Equal(t, 404, r.status, string(r.body))
		assert.Equal(t, "instance_not_found", r.errorCode())
	}
	r := h.do("POST", api+"known/webhook/generic-webhook", []byte(seedBody), jsonHeaders(otherKey))
	assert.Equal(t, 404, r.status, string(r.body))
	assert.Equal(t, "instance_not_found", r.errorCode())
	assert.Equal(t, uint64(0), h.head(), "nothing stored")
}

package httpapi_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/domain"
)

const seedBody = `{
"event_id": "evt_1001",
"thread_id": "incident_42",
"title": "Incident opened",
"text": "API latency is high",
"user": {
"id": "monitor"
},
"labels": ["ops", "urgent"]
}`

func jsonHeaders(key string) map[string]string {
	h := map[string]string{"Content-Type": "application/json"}
	if key != "" {
		h["X-API-Key"] = key
	}
	return h
}

func TestWebhookSeedExampleAccepted(t *testing.T) {
	h := newHarness(t)
	h.instance("user-1", "support")
	key := h.key("user-1", "socialops:write")

	r := h.do("POST", "/v1/apps/socialops/support/webhook/generic-webhook", []byte(seedBody), jsonHeaders(key))
	require.Equal(t, 202, r.status, string(r.body))
	assert.Equal(t, "accepted", r.json["status"])
	assert.Equal(t, "generic-webhook", r.json["provider"])
	assert.True(t, strings.HasPrefix(r.json["thread_id"].(string), "soth_"))
	assert.True(t, strings.HasPrefix(r.json["message_id"].(string), "somsg_"))
	assert.NotContains(t, r.json, "duplicate")
	assert.NotContains(t, string(r.body), "incident_42", "the external thread id never appears")
	assert.NotContains(t, string(r.body), "evt_1001", "the provider event id never appears")
	pos, err := strconv.ParseUint(r.header.Get("X-SocialOps-Position"), 10, 64)
	require.NoError(t, err)
	assert.Equal(t, h.head(), pos)

	evs := h.events()
	require.Len(t, evs, 5)
	claim := evs[0].Payload.(domain.InboundEventClaimed)
	evs = evs[1:]
	opened := evs[0].Payload.(domain.ThreadOpened)
	queued := evs[1].Payload.(domain.SessionQueued)
	msg := evs[2].Payload.(domain.InboundMessageReceived)
	charge := evs[3].Payload.(domain.ChargeApplied)
	assert.Equal(t, domain.SessionQueued{ThreadID: opened.ThreadID, InstanceID: opened.InstanceID, Reason: domain.SessionReasonOpened,
		Actor: domain.Actor{Kind: domain.ActorProvider}}, queued, "the new thread's session waits for an operator")
	assert.Equal(t, domain.InboundEventClaimed{InstanceID: opened.InstanceID, Provider: "generic-webhook", ProviderEventID: "evt_1001",
		ThreadID: opened.ThreadID, MessageID: msg.MessageID}, claim, "the event is claimed for its thread first")
	assert.Equal(t, r.json["thread_id"], opened.ThreadID)
	assert.Equal(t, "Incident opened", opened.Subject)
	assert.Equal(t, domain.StatusOpen, opened.Status)
	assert.Equal(t, domain.PriorityUrgent, opened.Priority, "the urgent label sets the priority")
	assert.Equal(t, "user-1", opened.OwnerID)
	assert.Equal(t, r.json["message_id"], msg.MessageID)
	assert.Equal(t, "API latency is high", msg.Text)
	assert.Equal(t, []string{"ops", "urgent"}, msg.Labels)
	assert.JSONEq(t, seedBody, string(msg.RawPayload), "the raw payload is kept for audit")
	assert.Equal(t, int64(200), charge.AmountMicroUSD)
	assert.Equal(t, "user-1", charge.OwnerID)
	assert.Equal(t, domain.ChargeInboundMessage, charge.Reason)
	assert.Equal(t, msg.MessageID, charge.MessageID)
	for _, e := range evs {
		assert.Equal(t, domain.ActorAPIKey, e.Metadata.Actor.Kind)
		assert.Equal(t, "support", e.Metadata.InstanceAlias)
		assert.Equal(t, "user-1", e.Metadata.OwnerID)
		assert.Equal(t, 1, e.Version)
		assert.NotEmpty(t, e.Metadata.CorrelationID)
	}

	// A second event of the same thread joins it: no second opening.
	second := strings.Replace(seedBody, "evt_1001", "evt_1002", 1)
	r2 := h.do("POST", "/v1/apps/socialops/support/webhook/generic-webhook", []byte(second), jsonHeaders(key))
	require.Equal(t, 202, r2.status, string(r2.body))
	assert.Equal(t, r.json["thread_id"], r2.json["thread_id"])
	assert.NotEqual(t, r.json["message_id"], r2.json["message_id"])
	assert.Equal(t, map[string]int{"InboundEventClaimed": 2, "ThreadOpened": 1, "SessionQueued": 1, "InboundMessageReceived": 2, "ChargeApplied": 2}, countTypes(h.events()))
}

func TestWebhookAcceptedWithoutBalance(t *testing.T) {
	// Messages are never refused for lack of balance: the wallet goes negative.
	h := newHarness(t)
	h.instance("broke", "broke-inst")
	key := h.key("broke", "socialops:write")
	for i := 0; i < 3; i++ {
		body := fmt.Sprintf(`{"event_id":"e%d","thread_id":"t","text":"hi"}`, i)
		r := h.do("POST", "/v1/apps/socialops/broke-inst/webhook/generic-webhook", []byte(body), jsonHeaders(key))
		require.Equal(t, 202, r.status, string(r.body))
	}
	var charged int64
	for _, e := range h.events() {
		if c, ok := e.Payload.(domain.ChargeApplied); ok {
			charged += c.AmountMicroUSD
		}
	}
	assert.Equal(t, int64(600), charged)
}

func TestWebhookDuplicateDelivery(t *testing.T) {
	h := newHarness(t)
	h.instance("u", "dup")
	key := h.key("u", "socialops:write")
	path := "/v1/apps/socialops/dup/webhook/generic-webhook"

	first := h.do("POST", path, []byte(seedBody), jsonHeaders(key))
	require.Equal(t, 202, first.status)
	again := h.do("POST", path, []byte(seedBody), jsonHeaders(key))
	require.Equal(t, 202, again.status)
	assert.Equal(t, true, again.json["duplicate"])
	assert.Equal(t, first.json["thread_id"], again.json["thread_id"])
	assert.Equal(t, first.json["message_id"], again.json["message_id"])
	assert.Equal(t, first.header.Get("X-SocialOps-Position"), again.header.Get("X-SocialOps-Position"))
	assert.Equal(t, map[string]int{"InboundEventClaimed": 1, "ThreadOpened": 1, "SessionQueued": 1, "InboundMessageReceived": 1, "ChargeApplied": 1}, countTypes(h.events()))
}

func TestWebhookTwentyConcurrentCopies(t *testing.T) {
	h := newHarness(t)
	h.instance("u", "burst")
	key := h.key("u", "socialops:write")
	path := "/v1/apps/socialops/burst/webhook/generic-webhook"
	// Prime the thread so the copies race on an existing stream too.
	require.Equal(t, 202, h.do("POST", path, []byte(`{"event_id":"prime","thread_id":"incident_42","text":"x"}`), jsonHeaders(key)).status)

	for _, body := range []string{seedBody, strings.Replace(strings.Replace(seedBody, "evt_1001", "evt_new", 1), "incident_42", "fresh-thread", 1)} {
		var wg sync.WaitGroup
		results := make([]response, 20)
		for i := range results {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				results[i] = h.do("POST", path, []byte(body), jsonHeaders(key))
			}(i)
		}
		wg.Wait()
		dups := 0
		for _, r := range results {
			require.Equal(t, 202, r.status, string(r.body))
			assert.Equal(t, results[0].json["thread_id"], r.json["thread_id"])
			assert.Equal(t, results[0].json["message_id"], r.json["message_id"])
			if r.json["duplicate"] == true {
				dups++
			}
		}
		assert.GreaterOrEqual(t, dups, 1, "copies are reported as duplicates")
	}
	assert.Equal(t, map[string]int{"InboundEventClaimed": 3, "ThreadOpened": 2, "SessionQueued": 2, "InboundMessageReceived": 3, "ChargeApplied": 3}, countTypes(h.events()),
		"twenty copies became one message and one charge each")
}

func hubSignature(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func genericSignature(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "." + string(body)))
	return hex.EncodeToString(m.Sum(nil))
}

const telegramUpdate = `{"update_id":918273645,"message":{"message_id":77,"from":{"id":5550001,"is_bot":false,"first_name":"Lan","last_name":"Nguyễn","username":"lan_ng","language_code":"vi"},"chat":{"id":-1001234567890,"title":"Support Telegram","type":"supergroup"},"date":1763726400,"text":"Xin chào, đơn hàng của tôi bị chậm"}}`

func TestWebhookProviderAuthentication(t *testing.T) {
	h := newHarness(t)
	h.instance("u", "prov")
	ctx := context.Background()
	require.NoError(t, h.tenancy.SetWebhookSecret(ctx, "prov", "telegram", "tg-secret-123"))
	require.NoError(t, h.tenancy.SetWebhookSecret(ctx, "prov", "github", "gh-secret-456"))
	require.NoError(t, h.tenancy.SetWebhookSecret(ctx, "prov", "generic-webhook", "gen-secret-789"))
	ghBody, err := os.ReadFile("../github/testdata/issues.opened.payload.json")
	require.NoError(t, err)
	ts := strconv.FormatInt(h.now.Unix(), 10)
	genBody := []byte(`{"event_id":"sig-1","thread_id":"t1","text":"signed"}`)

	cases := []struct {
		name     string
		provider string
		body     []byte
		header   map[string]string
		status   int
		code     string
	}{
		{"telegram secret token", "telegram", []byte(telegramUpdate), map[string]string{"X-Telegram-Bot-Api-Secret-Token": "tg-secret-123"}, 202, ""},
		{"telegram wrong token", "telegram", []byte(telegramUpdate), map[string]string{"X-Telegram-Bot-Api-Secret-Token": "nope"}, 401, "invalid_signature"},
		{"telegram no proof", "telegram", []byte(telegramUpdate), nil, 401, "unauthenticated"},
		{"github signature", "github", ghBody, map[string]string{"X-Hub-Signature-256": hubSignature("gh-secret-456", ghBody), "X-GitHub-Event": "issues", "X-GitHub-Delivery": "d-1"}, 202, ""},
		{"github wrong signature", "github", ghBody, map[string]string{"X-Hub-Signature-256": hubSignature("other", ghBody), "X-GitHub-Event": "issues", "X-GitHub-Delivery": "d-2"}, 401, "invalid_signature"},
		{"generic signature", "generic-webhook", genBody, map[string]string{"X-Signature": genericSignature("gen-secret-789", ts, genBody), "X-Timestamp": ts}, 202, ""},
		{"generic stale timestamp", "generic-webhook", genBody, map[string]string{"X-Signature": genericSignature("gen-secret-789", "1000", genBody), "X-Timestamp": "1000"}, 401, "invalid_signature"},
		{"generic wrong signature", "generic-webhook", genBody, map[string]string{"X-Signature": genericSignature("bad", ts, genBody), "X-Timestamp": ts}, 401, "invalid_signature"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := h.head()
			hdr := map[string]string{"Content-Type": "application/json"}
			for k, v := range tc.header {
				hdr[k] = v
			}
			r := h.do("POST", "/v1/apps/socialops/prov/webhook/"+tc.provider, tc.body, hdr)
			require.Equal(t, tc.status, r.status, string(r.body))
			if tc.code != "" {
				assert.Equal(t, tc.code, r.errorCode())
				assert.Equal(t, false, r.json["success"])
				assert.Equal(t, before, h.head(), "a rejected delivery stores nothing")
			} else {
				assert.Equal(t, "accepted", r.json["status"])
				assert.Equal(t, tc.provider, r.json["provider"])
			}
		})
	}
	for _, e := range h.events() {
		assert.Equal(t, domain.ActorProvider, e.Metadata.Actor.Kind)
	}
}

func TestWebhookGitHubPingStoresNothing(t *testing.T) {
	h := newHarness(t)
	h.instance("u", "gh")
	key := h.key("u", "socialops:write")
	body, err := os.ReadFile("../github/testdata/ping.payload.json")
	require.NoError(t, err)
	hdr := jsonHeaders(key)
	hdr["X-GitHub-Event"] = "ping"
	hdr["X-GitHub-Delivery"] = "ping-1"
	r := h.do("POST", "/v1/apps/socialops/gh/webhook/github", body, hdr)
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, "ignored", r.json["status"])
	assert.Equal(t, uint64(0), h.head())
}

func TestWebhookGitHubIssueAndCommentShareThread(t *testing.T) {
	h := newHarness(t)
	h.instance("u", "gh")
	key := h.key("u", "socialops:write")
	send := func(event, file, delivery string) response {
		body, err := os.ReadFile("../github/testdata/" + file)
		require.NoError(t, err)
		hdr := jsonHeaders(key)
		hdr["X-GitHub-Event"] = event
		hdr["X-GitHub-Delivery"] = delivery
		r := h.do("POST", "/v1/apps/socialops/gh/webhook/github", body, hdr)
		require.Equal(t, 202, r.status, string(r.body))
		return r
	}
	opened := send("issues", "issues.opened.payload.json", "a")
	comment := send("issue_comment", "issue_comment.created.payload.json", "b")
	assert.Equal(t, opened.json["thread_id"], comment.json["thread_id"])
	labeled := send("issues", "issues.labeled.payload.json", "c")
	assert.Equal(t, opened.json["thread_id"], labeled.json["thread_id"])
	send("pull_request", "pull_request.opened.with-null-body.json", "d")
	send("issues", "issues.opened.with-empty-body.payload.json", "e")
	send("workflow_run", "workflow_run.completed.payload.json", "f")
	send("workflow_job", "workflow_job.completed.failure.with-organization.payload.json", "g")
}

func TestWebhookBadInputChangesNothing(t *testing.T) {
	h := newHarness(t)
	h.instance("owner-a", "alpha")
	h.instance("owner-b", "beta")
	keyA := h.key("owner-a", "socialops:write")
	readOnlyA := h.key("owner-a", "socialops:read")
	keyB := h.key("owner-b", "socialops:write")
	big := `{"event_id":"big","thread_id":"t","text":"` + strings.Repeat("a", 1<<20) + `"}`

	cases := []struct {
		name   string
		path   string
		body   string
		header map[string]string
		status int
		code   string
		inMsg  string
	}{
		{"unknown alias", "/v1/apps/socialops/nope/webhook/generic-webhook", seedBody, jsonHeaders(keyA), 404, "instance_not_found", ""},
		{"unknown provider", "/v1/apps/socialops/alpha/webhook/slack", seedBody, jsonHeaders(keyA), 404, "unsupported_provider", "slack"},
		{"missing key", "/v1/apps/socialops/alpha/webhook/generic-webhook", seedBody, jsonHeaders(""), 401, "unauthenticated", ""},
		{"wrong key", "/v1/apps/socialops/alpha/webhook/generic-webhook", seedBody, jsonHeaders("sk_notarealkey"), 401, "invalid_api_key", ""},
		{"key of another owner", "/v1/apps/socialops/alpha/webhook/generic-webhook", seedBody, jsonHeaders(keyB), 404, "instance_not_found", ""},
		{"key without write scope", "/v1/apps/socialops/alpha/webhook/generic-webhook", seedBody, jsonHeaders(readOnlyA), 403, "missing_scope", ""},
		{"body over 1 MiB", "/v1/apps/socialops/alpha/webhook/generic-webhook", big, jsonHeaders(keyA), 413, "payload_too_large", ""},
		{"invalid JSON", "/v1/apps/socialops/alpha/webhook/generic-webhook", `{"event_id":`, jsonHeaders(keyA), 400, "invalid_payload", "JSON"},
		{"invalid UTF-8", "/v1/apps/socialops/alpha/webhook/generic-webhook", "{\"event_id\":\"e\",\"thread_id\":\"t\",\"text\":\"\xff\xfe\"}", jsonHeaders(keyA), 400, "invalid_payload", "UTF-8"},
		{"missing event_id", "/v1/apps/socialops/alpha/webhook/generic-webhook", `{"thread_id":"t","text":"x"}`, jsonHeaders(keyA), 422, "missing_field", "event_id"},
		{"missing thread_id", "/v1/apps/socialops/alpha/webhook/generic-webhook", `{"event_id":"e","text":"x"}`, jsonHeaders(keyA), 422, "missing_field", "thread_id"},
		{"telegram without update_id", "/v1/apps/socialops/alpha/webhook/telegram", `{"message":{"message_id":1,"chat":{"id":1,"type":"private"},"date":1,"text":"x"}}`, jsonHeaders(keyA), 422, "missing_field", "update_id"},
		{"github without delivery", "/v1/apps/socialops/alpha/webhook/github", `{"action":"opened"}`, map[string]string{"Content-Type": "application/json", "X-API-Key": keyA, "X-GitHub-Event": "issues"}, 422, "missing_field", "X-GitHub-Delivery"},
		{"text/plain", "/v1/apps/socialops/alpha/webhook/generic-webhook", seedBody, map[string]string{"Content-Type": "text/plain", "X-API-Key": keyA}, 415, "unsupported_media_type", ""},
		{"form encoded", "/v1/apps/socialops/alpha/webhook/github", "payload=%7B%7D", map[string]string{"Content-Type": "application/x-www-form-urlencoded", "X-API-Key": keyA}, 415, "unsupported_media_type", ""},
		{"no content type", "/v1/apps/socialops/alpha/webhook/generic-webhook", seedBody, map[string]string{"X-API-Key": keyA}, 415, "unsupported_media_type", ""},
		{"wrong method", "/v1/apps/socialops/alpha/webhook/generic-webhook", "", jsonHeaders(keyA), 405, "method_not_allowed", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method := "POST"
			if tc.name == "wrong method" {
				method = "PUT"
			}
			r := h.do(method, tc.path, []byte(tc.body), tc.header)
			require.Equal(t, tc.status, r.status, string(r.body))
			assert.Equal(t, tc.code, r.errorCode())
			assert.Equal(t, false, r.json["success"])
			if tc.inMsg != "" {
				assert.Contains(t, r.errorMessage(), tc.inMsg)
			}
			assert.Equal(t, uint64(0), h.head(), "nothing appended")
		})
	}
}

package httpapi_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	httpapi "github.com/socialops/socialops/adapters/http"
	"github.com/socialops/socialops/domain"
)

const botToken = "123456789:AAH-secretBotTokenValue_abcdefghijklmnop"

func (h *harness) token(user string, perms ...string) string {
	tok, err := httpapi.MintToken(testJWTSecret, user, perms, time.Hour, time.Now())
	require.NoError(h.t, err)
	return tok
}

func bearer(tok string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + tok, "Content-Type": "application/json"}
}

func (h *harness) console(method, path, tok, body string) response {
	h.t.Helper()
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	return h.do(method, "/console/socialops"+path, b, bearer(tok))
}

func (h *harness) account(owner string) string {
	acct, err := h.accounts.Create(context.Background(), owner, "telegram-bot", botToken)
	require.NoError(h.t, err)
	return acct.ID
}

// openThread ingests one webhook and returns the thread id and its position.
func (h *harness) openThread(alias, key, eventID string) (string, string) {
	h.t.Helper()
	body := fmt.Sprintf(`{"event_id":%q,"thread_id":"chat-%s","title":"Customer asks","text":"hello"}`, eventID, eventID)
	r := h.do("POST", "/v1/apps/socialops/"+alias+"/webhook/generic-webhook", []byte(body), jsonHeaders(key))
	require.Equal(h.t, 202, r.status, string(r.body))
	return r.json["thread_id"].(string), r.header.Get("X-SocialOps-Position")
}

func data(r response) map[string]any {
	d, _ := r.json["data"].(map[string]any)
	return d
}

func TestConsoleInstancesAndPermissions(t *testing.T) {
	h := newHarness(t)
	h.instance("alice", "support")
	h.instance("alice", "ops")
	h.instance("bob", "bobs")
	key := h.key("alice", "socialops:write")
	thread, _ := h.openThread("support", key, "e1")
	h.settle() // the read endpoints below are asked without a position
	read := h.token("alice", "service:read")
	manage := h.token("alice", "service:manage")
	bob := h.token("bob", "service:read", "service:manage")

	r := h.console("GET", "/instances", read, "")
	require.Equal(t, 200, r.status, string(r.body))
	var aliases []string
	for _, i := range data(r)["instances"].([]any) {
		aliases = append(aliases, i.(map[string]any)["alias"].(string))
	}
	assert.Equal(t, []string{"ops", "support"}, aliases, "only the user's instances")

	endpoints := []struct {
		method, path, body string
		manage             bool
	}{
		{"GET", "/support/channels", "", false},
		{"POST", "/support/channels", `{"provider":"telegram"}`, true},
		{"PATCH", "/support/channels/sochan_x", `{"status":"inactive"}`, true},
		{"GET", "/support/inbox", "", false},
		{"GET", "/support/threads/" + thread + "/messages", "", false},
		{"POST", "/support/threads/" + thread + "/notes", `{"text":"n"}`, true},
		{"POST", "/support/threads/" + thread + "/replies", `{"text":"r"}`, true},
		{"PATCH", "/support/threads/" + thread, `{"status":"pending"}`, true},
	}
	expired, err := httpapi.MintToken(testJWTSecret, "alice", []string{"service:manage"}, time.Minute, time.Now().Add(-time.Hour))
	require.NoError(t, err)
	forged, err := httpapi.MintToken([]byte("another-secret-that-is-32-bytes-long!!"), "alice", []string{"service:manage"}, time.Hour, time.Now())
	require.NoError(t, err)
	for _, ep := range endpoints {
		t.Run(ep.method+" "+ep.path, func(t *testing.T) {
			before := h.head()
			r := h.do(ep.method, "/console/socialops"+ep.path, []byte(ep.body), map[string]string{"Content-Type": "application/json"})
			assert.Equal(t, 401, r.status, "no token")
			for name, tok := range map[string]string{"expired": expired, "forged": forged, "malformed": "not.a.jwt"} {
				r = h.console(ep.method, ep.path, tok, ep.body)
				assert.Equal(t, 401, r.status, name)
				assert.Equal(t, "invalid_token", r.errorCode(), name)
			}
			r = h.console(ep.method, strings.Replace(ep.path, "/support", "/bobs", 1), read, ep.body)
			if !ep.manage {
				assert.Equal(t, 404, r.status, "another user's instance")
				assert.Equal(t, "instance_not_found", r.errorCode())
			}
			r = h.console(ep.method, ep.path, bob, ep.body)
			assert.Equal(t, 404, r.status, "bob on alice's instance")
			if ep.manage {
				r = h.console(ep.method, ep.path, read, ep.body)
				assert.Equal(t, 403, r.status, "read-only token on a change")
				assert.Equal(t, "missing_permission", r.errorCode())
			} else {
				r = h.console(ep.method, ep.path, manage, ep.body)
				assert.Equal(t, 200, r.status, "manage implies read: %s", r.body)
			}
			assert.Equal(t, before, h.head(), "refused requests append nothing")
		})
	}
}

func TestConsoleChannelRules(t *testing.T) {
	h := newHarness(t)
	h.instance("alice", "support")
	h.instance("bob", "bobs")
	manage := h.token("alice", "service:manage")
	mine := h.account("alice")
	theirs := h.account("bob")
	inactive := h.account("alice")
	require.NoError(t, h.accounts.SetStatus(context.Background(), inactive, "inactive"))

	body := func(acct, mode string) string {
		return fmt.Sprintf(`{"provider":"telegram","connected_account_id":%q,"channel_name":"Support Telegram","external_channel_id":"-1001234567890","parse_mode":%q}`, acct, mode)
	}
	rules := []struct {
		name, body string
		status     int
		code       string
	}{
		{"account of another user", body(theirs, "HTML"), 422, "connected_account_not_found"},
		{"unknown account", body("conn_nope", "HTML"), 422, "connected_account_not_found"},
		{"inactive account", body(inactive, "HTML"), 422, "connected_account_inactive"},
		{"missing account", `{"provider":"telegram","channel_name":"x","external_channel_id":"-1"}`, 422, "missing_field"},
		{"missing chat", `{"provider":"telegram","connected_account_id":"` + mine + `","channel_name":"x"}`, 422, "missing_field"},
		{"bad parse_mode", body(mine, "Markdown"), 400, "invalid_field"},
		{"other provider", strings.Replace(body(mine, "HTML"), `"telegram"`, `"slack"`, 1), 400, "invalid_field"},
		{"unknown field", `{"provider":"telegram","token":"x"}`, 400, "invalid_field"},
		{"not JSON", `{"provider":`, 400, "invalid_payload"},
	}
	for _, tc := range rules {
		t.Run(tc.name, func(t *testing.T) {
			before := h.head()
			r := h.console("POST", "/support/channels", manage, tc.body)
			require.Equal(t, tc.status, r.status, string(r.body))
			assert.Equal(t, tc.code, r.errorCode())
			assert.Equal(t, before, h.head())
		})
	}

	r := h.console("POST", "/support/channels", manage, body(mine, "HTML"))
	require.Equal(t, 201, r.status, string(r.body))
	ch := data(r)["channel"].(map[string]any)
	channelID := ch["channel_id"].(string)
	assert.True(t, strings.HasPrefix(channelID, "sochan_"))
	assert.Equal(t, "active", ch["status"])
	assert.Equal(t, "HTML", ch["parse_mode"])
	pos := r.header.Get("X-SocialOps-Position")

	list := h.do("GET", "/console/socialops/support/channels", nil, map[string]string{"Authorization": "Bearer " + manage, "X-SocialOps-Position": pos})
	require.Equal(t, 200, list.status)
	chans := data(list)["channels"].([]any)
	require.Len(t, chans, 1)
	assert.Equal(t, channelID, chans[0].(map[string]any)["channel_id"])
	assert.NotContains(t, string(list.body), "secretBotToken", "no token in any response")
	assert.NotContains(t, string(r.body), "secretBotToken")

	r = h.console("PATCH", "/support/channels/"+channelID, manage, `{"status":"inactive"}`)
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, "inactive", data(r)["channel"].(map[string]any)["status"])
	before := h.head()
	r = h.console("PATCH", "/support/channels/"+channelID, manage, `{"status":"inactive"}`)
	require.Equal(t, 200, r.status)
	assert.Equal(t, before, h.head(), "no change, no event")
	r = h.console("PATCH", "/support/channels/"+channelID, manage, `{"status":"paused"}`)
	assert.Equal(t, 400, r.status)
	r = h.console("PATCH", "/support/channels/sochan_unknown", manage, `{"status":"active"}`)
	assert.Equal(t, 404, r.status)
	assert.Equal(t, "channel_not_found", r.errorCode())
	r = h.do("PATCH", "/console/socialops/bobs/channels/"+channelID, []byte(`{"status":"active"}`), bearer(h.token("bob", "service:manage")))
	assert.Equal(t, 404, r.status, "bob cannot touch alice's channel through his own instance")
	r = h.console("PATCH", "/support/channels/"+channelID, manage, `{"status":"active"}`)
	require.Equal(t, 200, r.status)
	types := countTypes(h.events())
	assert.Equal(t, 1, types["ChannelCreated"])
	assert.Equal(t, 2, types["ChannelStatusChanged"])
}

func TestConsoleNotesRepliesAndIdempotency(t *testing.T) {
	h := newHarness(t)
	h.instance("alice", "support")
	key := h.key("alice", "socialops:write", "socialops:read")
	thread, _ := h.openThread("support", key, "e1")
	other, _ := h.openThread("support", key, "e2")
	manage := h.token("alice", "service:manage")

	r := h.console("POST", "/support/threads/"+thread+"/notes", manage, `{"text":"已检查 provider 控制台,并指派给 ops。"}`)
	require.Equal(t, 201, r.status, string(r.body))
	note := data(r)["message"].(map[string]any)
	assert.Equal(t, "internal", note["direction"])
	assert.Equal(t, "alice", note["sender_name"])

	r = h.console("POST", "/support/threads/"+thread+"/replies", manage, `{"text":"我们正在检查这个问题。"}`)
	require.Equal(t, 201, r.status, string(r.body))
	msg := data(r)["message"].(map[string]any)
	act := data(r)["action"].(map[string]any)
	assert.Equal(t, "outbound", msg["direction"])
	assert.Equal(t, "text", msg["message_type"])
	assert.Equal(t, "我们正在检查这个问题。", msg["text"])
	assert.True(t, strings.HasPrefix(msg["message_id"].(string), "somsg_"))
	assert.Equal(t, "send_reply", act["action_type"])
	assert.Equal(t, "pending", act["status"])
	assert.True(t, strings.HasPrefix(act["action_id"].(string), "soact_"))

	// The API-key twin answers the seed's shape too.
	r = h.do("POST", "/v1/apps/socialops/support/threads/"+thread+"/replies", []byte(`{"text":"via API"}`), jsonHeaders(key))
	require.Equal(t, 201, r.status, string(r.body))
	assert.Equal(t, true, r.json["success"])
	assert.Equal(t, "outbound", data(r)["message"].(map[string]any)["direction"])
	assert.Equal(t, "pending", data(r)["action"].(map[string]any)["status"])
	readOnly := h.key("alice", "socialops:read")
	r = h.do("POST", "/v1/apps/socialops/support/threads/"+thread+"/replies", []byte(`{"text":"x"}`), jsonHeaders(readOnly))
	assert.Equal(t, 403, r.status)

	// The same Idempotency-Key from the same user: the first reply, nothing new.
	hdr := bearer(manage)
	hdr["Idempotency-Key"] = "reply-42"
	first := h.do("POST", "/console/socialops/support/threads/"+thread+"/replies", []byte(`{"text":"once"}`), hdr)
	require.Equal(t, 201, first.status)
	before := h.head()
	again := h.do("POST", "/console/socialops/support/threads/"+thread+"/replies", []byte(`{"text":"once"}`), hdr)
	require.Equal(t, 201, again.status)
	assert.Equal(t, "true", again.header.Get("Idempotent-Replayed"))
	assert.Equal(t, data(first)["message"].(map[string]any)["message_id"], data(again)["message"].(map[string]any)["message_id"])
	assert.Equal(t, data(first)["action"].(map[string]any)["action_id"], data(again)["action"].(map[string]any)["action_id"])
	assert.Equal(t, before, h.head(), "a repeated key appends nothing")
	// Concurrent repeats of a fresh key still make one reply.
	hdr["Idempotency-Key"] = "reply-burst"
	var wg sync.WaitGroup
	ids := make([]string, 10)
	for i := range ids {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := h.do("POST", "/console/socialops/support/threads/"+thread+"/replies", []byte(`{"text":"burst"}`), hdr)
			if r.status == 201 {
				ids[i] = data(r)["action"].(map[string]any)["action_id"].(string)
			}
		}(i)
	}
	wg.Wait()
	for _, id := range ids {
		assert.Equal(t, ids[0], id)
	}
	// The same key on another thread is refused.
	hdr["Idempotency-Key"] = "reply-42"
	r = h.do("POST", "/console/socialops/support/threads/"+other+"/replies", []byte(`{"text":"once"}`), hdr)
	assert.Equal(t, 422, r.status)
	assert.Equal(t, "idempotency_key_reused", r.errorCode())

	types := countTypes(h.events())
	assert.Equal(t, 1, types["NoteAdded"])
	assert.Equal(t, 4, types["ReplyQueued"], "console, API, keyed, burst")

	// The history shows internal and outbound messages with their delivery state.
	pos := fmt.Sprint(h.head())
	r = h.get("/v1/apps/socialops/support/threads/"+thread+"/messages?limit=100", key, "X-SocialOps-Position", pos)
	require.Equal(t, 200, r.status)
	dirs := map[string]int{}
	for _, m := range data(r)["messages"].([]any) {
		mm := m.(map[string]any)
		dirs[mm["direction"].(string)]++
		if mm["direction"] == "outbound" {
			assert.Equal(t, "pending", mm["delivery_status"])
		}
	}
	assert.Equal(t, map[string]int{"inbound": 1, "internal": 1, "outbound": 4}, dirs)

	// Bad input: 4xx and nothing appended.
	before = h.head()
	for _, tc := range []struct {
		body   string
		status int
	}{{`{}`, 422}, {`{"text":"   "}`, 422}, {`{"text":5}`, 400}, {`{"text":"` + strings.Repeat("长", 4097) + `"}`, 400}, {`[]`, 400}} {
		r = h.console("POST", "/support/threads/"+thread+"/replies", manage, tc.body)
		assert.Equal(t, tc.status, r.status, tc.body)
		r = h.console("POST", "/support/threads/"+thread+"/notes", manage, tc.body)
		if tc.status == 400 && strings.Contains(tc.body, "长") {
			continue // notes allow 4,000 characters: covered by the reply case
		}
		assert.Equal(t, tc.status, r.status, tc.body)
	}
	r = h.console("POST", "/support/threads/soth_unknown/notes", manage, `{"text":"x"}`)
	assert.Equal(t, 404, r.status)
	assert.Equal(t, "thread_not_found", r.errorCode())
	assert.Equal(t, before, h.head())
}

func TestConsolePatchThread(t *testing.T) {
	h := newHarness(t)
	h.instance("alice", "support")
	key := h.key("alice", "socialops:write")
	thread, _ := h.openThread("support", key, "e1")
	manage := h.token("alice", "service:manage")
	path := "/support/threads/" + thread

	op := h.consoleOperator("support", manage, "Ops One")
	r := h.console("PATCH", path, manage, `{"status":"pending","priority":"high","assignee":"`+op+`"}`)
	require.Equal(t, 200, r.status, string(r.body))
	th := data(r)["thread"].(map[string]any)
	assert.Equal(t, "pending", th["status"])
	assert.Equal(t, "high", th["priority"])
	assert.Equal(t, op, th["assignee"])
	evs := h.events()
	last4 := evs[len(evs)-4:]
	assert.Equal(t, []string{"ThreadStatusChanged", "ThreadPriorityChanged", "ThreadAssigned", "SessionAssigned"},
		[]string{last4[0].Type, last4[1].Type, last4[2].Type, last4[3].Type}, "the assignee takes the session")
	for _, e := range last4 {
		assert.Equal(t, domain.Actor{Kind: domain.ActorUser, ID: "alice"}, e.Metadata.Actor, "each change carries its actor")
	}

	before := h.head()
	r = h.console("PATCH", path, manage, `{"status":"pending","assignee":"`+op+`"}`)
	require.Equal(t, 200, r.status)
	assert.Equal(t, before, h.head(), "a change to the current value appends nothing")
	assert.Empty(t, data(r)["changes"])

	r = h.console("PATCH", path, manage, `{"assignee":null}`)
	require.Equal(t, 200, r.status)
	assert.Nil(t, data(r)["thread"].(map[string]any)["assignee"])

	for _, tc := range []struct {
		body   string
		status int
	}{
		{`{"status":"closed"}`, 400}, {`{"priority":"critical"}`, 400}, {`{"assignee":42}`, 400},
		{`{"subject":"x"}`, 400}, {`{}`, 422}, {`{"status":null}`, 422},
		{`{"assignee":"ops-1"}`, 422}, {`{"assignee":"999"}`, 422}, // not an operator id of the instance
	} {
		before := h.head()
		r = h.console("PATCH", path, manage, tc.body)
		assert.Equal(t, tc.status, r.status, tc.body)
		assert.Equal(t, before, h.head(), tc.body)
	}

	// The inbox reflects the change when asked with the command's position.
	r = h.console("PATCH", path, manage, `{"status":"resolved"}`)
	require.Equal(t, 200, r.status)
	q := h.do("GET", "/console/socialops/support/inbox?status=resolved", nil, map[string]string{
		"Authorization": "Bearer " + manage, "X-SocialOps-Position": r.header.Get("X-SocialOps-Position")})
	require.Equal(t, 200, q.status)
	assert.Equal(t, []string{thread}, threadIDs(q))
}

func TestConsoleConcurrentCommandsLoseNothing(t *testing.T) {
	h := newHarness(t)
	h.instance("alice", "support")
	key := h.key("alice", "socialops:write")
	thread, _ := h.openThread("support", key, "e1")
	manage := h.token("alice", "service:manage")
	const n = 50
	agents := map[int]string{}
	for i := 1; i < n; i += 2 {
		agents[i] = h.consoleOperator("support", manage, fmt.Sprintf("agent %d", i))
	}

	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			var r response
			if i%2 == 0 {
				r = h.console("POST", "/support/threads/"+thread+"/notes", manage, fmt.Sprintf(`{"text":"note %d"}`, i))
			} else {
				r = h.console("PATCH", "/support/threads/"+thread, manage, fmt.Sprintf(`{"assignee":%q}`, agents[i]))
			}
			statuses[i] = r.status
		}(i)
	}
	wg.Wait()
	notes, patches := 0, 0
	for i, s := range statuses {
		require.Contains(t, []int{200, 201, 409}, s)
		if s == 409 {
			continue
		}
		if i%2 == 0 {
			notes++
		} else {
			patches++
		}
	}
	types := countTypes(h.events())
	assert.Equal(t, notes, types["NoteAdded"], "every accepted note is in the history")
	assert.Equal(t, patches, types["ThreadAssigned"], "every accepted assignment is in the history")
	assert.Equal(t, n, notes+patches, "bounded retries absorbed 50 concurrent commands")
}

package httpapi_test

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/domain"
)

// changeThread appends a status or priority change straight to the log, as
// the console commands will, so the inbox has mixed data to filter.
func (h *harness) changeThread(threadID string, payload domain.Event) uint64 {
	h.t.Helper()
	ctx := context.Background()
	evs, err := h.store.ReadStream(ctx, domain.ThreadStream(threadID), domain.Backwards, domain.StreamEnd, 1)
	require.NoError(h.t, err)
	ev, err := h.registry.Encode(payload, domain.Metadata{EventID: domain.RandomUUID(domain.CryptoRandom), Actor: domain.Actor{Kind: domain.ActorUser, ID: "test"}, OccurredAt: time.Now()})
	require.NoError(h.t, err)
	res, err := h.store.Append(ctx, domain.ThreadStream(threadID), domain.ExactRevision(evs[0].Revision), ev)
	require.NoError(h.t, err)
	return res.Position
}

type seededThread struct {
	id, provider, status, priority, subject string
}

// seedInbox ingests threads over all three providers with mixed statuses and priorities.
func seedInbox(t *testing.T, h *harness, alias, key string, n int) []seededThread {
	statuses := domain.Statuses
	priorities := domain.Priorities
	var out []seededThread
	var last uint64
	for i := 0; i < n; i++ {
		var r response
		subject := fmt.Sprintf("Thread %02d about latency", i)
		if i%5 == 0 {
			subject = fmt.Sprintf("数据库连接超时 第%d次", i)
		}
		provider := []string{"generic-webhook", "telegram", "github"}[i%3]
		switch provider {
		case "generic-webhook":
			body := fmt.Sprintf(`{"event_id":"e-%d","thread_id":"t-%d","title":%q,"text":"body %d"}`, i, i, subject, i)
			r = h.do("POST", "/v1/apps/socialops/"+alias+"/webhook/generic-webhook", []byte(body), jsonHeaders(key))
		case "telegram":
			body := fmt.Sprintf(`{"update_id":%d,"message":{"message_id":%d,"from":{"id":42,"is_bot":false,"first_name":"Lan"},"chat":{"id":%d,"title":%q,"type":"group"},"date":1763726400,"text":"hello %d"}}`, 1000+i, i, -100-i, subject, i)
			r = h.do("POST", "/v1/apps/socialops/"+alias+"/webhook/telegram", []byte(body), jsonHeaders(key))
		case "github":
			body := fmt.Sprintf(`{"action":"opened","issue":{"number":%d,"title":%q,"body":"see logs","user":{"login":"octo"},"labels":[],"created_at":"2026-11-01T10:00:00Z","updated_at":"2026-11-01T10:00:00Z","html_url":"https://example.invalid/%d"},"repository":{"full_name":"acme/api","name":"api","owner":{"login":"acme"}},"sender":{"login":"octo"}}`, i, subject, i)
			hdr := jsonHeaders(key)
			hdr["X-GitHub-Event"] = "issues"
			hdr["X-GitHub-Delivery"] = fmt.Sprintf("gh-%d", i)
			r = h.do("POST", "/v1/apps/socialops/"+alias+"/webhook/github", []byte(body), hdr)
		}
		require.Equal(t, 202, r.status, string(r.body))
		th := seededThread{id: r.json["thread_id"].(string), provider: provider, status: domain.StatusOpen, priority: domain.PriorityNormal, subject: subject}
		if s := statuses[i%4]; s != domain.StatusOpen {
			last = h.changeThread(th.id, domain.ThreadStatusChanged{ThreadID: th.id, From: th.status, To: s})
			th.status = s
		}
		if p := priorities[(i/2)%4]; p != domain.PriorityNormal {
			last = h.changeThread(th.id, domain.ThreadPriorityChanged{ThreadID: th.id, From: th.priority, To: p})
			th.priority = p
		}
		out = append(out, th)
	}
	_ = last
	return out
}

func (h *harness) get(path, key string, extra ...string) response {
	hdr := map[string]string{"X-API-Key": key}
	for i := 0; i+1 < len(extra); i += 2 {
		hdr[extra[i]] = extra[i+1]
	}
	return h.do("GET", path, nil, hdr)
}

func threadIDs(r response) []string {
	data := r.json["data"].(map[string]any)
	var ids []string
	for _, t := range data["threads"].([]any) {
		ids = append(ids, t.(map[string]any)["thread_id"].(string))
	}
	return ids
}

func TestInboxFiltersAndPaging(t *testing.T) {
	h := newHarness(t)
	h.instance("u", "support")
	key := h.key("u", "socialops:write", "socialops:read")
	threads := seedInbox(t, h, "support", key, 36)
	headPos := strconv.FormatUint(h.head(), 10)

	expect := func(keep func(seededThread) bool) []string {
		var ids []string
		for _, th := range threads {
			if keep(th) {
				ids = append(ids, th.id)
			}
		}
		sort.Strings(ids)
		return ids
	}
	cases := []struct {
		query string
		keep  func(seededThread) bool
	}{
		{"", func(seededThread) bool { return true }},
		{"status=resolved", func(s seededThread) bool { return s.status == "resolved" }},
		{"status=open&priority=high", func(s seededThread) bool { return s.status == "open" && s.priority == "high" }},
		{"priority=urgent", func(s seededThread) bool { return s.priority == "urgent" }},
		{"provider=telegram", func(s seededThread) bool { return s.provider == "telegram" }},
		{"provider=github&status=pending", func(s seededThread) bool { return s.provider == "github" && s.status == "pending" }},
		{"q=" + url.QueryEscape("连接"), func(s seededThread) bool { return strings.Contains(s.subject, "连接") }},
		{"q=LATENCY", func(s seededThread) bool { return strings.Contains(s.subject, "latency") }},
		{"q=" + url.QueryEscape("100%"), func(seededThread) bool { return false }},
	}
	for _, path := range []string{"/inbox", "/threads"} {
		for _, tc := range cases {
			t.Run(path+"?"+tc.query, func(t *testing.T) {
				r := h.get("/v1/apps/socialops/support"+path+"?limit=100&"+tc.query, key, "X-SocialOps-Position", headPos)
				require.Equal(t, 200, r.status, string(r.body))
				assert.Empty(t, r.header.Get("X-SocialOps-Stale"))
				assert.Equal(t, true, r.json["success"])
				got := threadIDs(r)
				sort.Strings(got)
				want := expect(tc.keep)
				assert.Equal(t, want, got)
				assert.EqualValues(t, len(want), r.json["data"].(map[string]any)["total"])
				assert.Equal(t, true, r.json["data"].(map[string]any)["total_exact"], "well under the keyword bound")
			})
		}
	}

	// Paging by page and by cursor walks the same order, without repeats.
	var byPage []string
	for page := 1; ; page++ {
		r := h.get(fmt.Sprintf("/v1/apps/socialops/support/inbox?limit=7&page=%d", page), key)
		require.Equal(t, 200, r.status)
		data := r.json["data"].(map[string]any)
		assert.EqualValues(t, 36, data["total"])
		assert.EqualValues(t, page, data["page"])
		assert.EqualValues(t, 7, data["limit"])
		ids := threadIDs(r)
		byPage = append(byPage, ids...)
		if data["has_more"] != true {
			break
		}
		require.Len(t, ids, 7)
	}
	require.Len(t, byPage, 36)
	var byCursor []string
	cursor := ""
	for i := 0; i < 10; i++ {
		q := "/v1/apps/socialops/support/inbox?limit=7"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		r := h.get(q, key)
		require.Equal(t, 200, r.status)
		byCursor = append(byCursor, threadIDs(r)...)
		next, _ := r.json["data"].(map[string]any)["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	assert.Equal(t, byPage, byCursor)
	seen := map[string]bool{}
	for _, id := range byPage {
		assert.False(t, seen[id], "thread %s listed twice", id)
		seen[id] = true
	}
	// Latest activity first.
	r := h.get("/v1/apps/socialops/support/inbox?limit=100", key)
	var times []string
	for _, th := range r.json["data"].(map[string]any)["threads"].([]any) {
		times = append(times, th.(map[string]any)["last_message_at"].(string))
	}
	assert.True(t, sort.SliceIsSorted(times, func(i, j int) bool { return times[i] > times[j] }), "newest first: %v", times)

	// Default limit is 20.
	r = h.get("/v1/apps/socialops/support/inbox", key)
	assert.Len(t, threadIDs(r), 20)
}

func TestInboxRejectsBadParameters(t *testing.T) {
	h := newHarness(t)
	h.instance("u", "support")
	key := h.key("u", "socialops:read")
	cases := map[string]string{
		"status=closed":                 "status",
		"priority=critical":             "priority",
		"provider=slack":                "provider",
		"limit=0":                       "limit",
		"limit=101":                     "limit",
		"limit=ten":                     "limit",
		"page=0":                        "page",
		"page=-3":                       "page",
		"cursor=not-a-cursor!!":         "cursor",
		"q=":                            "q",
		"q=" + strings.Repeat("x", 201): "q",
	}
	for query, param := range cases {
		t.Run(query, func(t *testing.T) {
			r := h.get("/v1/apps/socialops/support/inbox?"+query, key)
			require.Equal(t, 400, r.status, string(r.body))
			assert.Equal(t, "invalid_parameter", r.errorCode())
			assert.Contains(t, r.errorMessage(), param)
		})
	}
	r := h.get("/v1/apps/socialops/support/inbox", key, "X-SocialOps-Position", "soon")
	assert.Equal(t, 400, r.status)
	assert.Contains(t, r.errorMessage(), "X-SocialOps-Position")
}

func TestReadTenantIsolation(t *testing.T) {
	h := newHarness(t)
	h.instance("owner-a", "alpha")
	h.instance("owner-b", "beta")
	keyA := h.key("owner-a", "socialops:write", "socialops:read", "socialops:audit")
	keyB := h.key("owner-b", "socialops:write", "socialops:read", "socialops:audit")
	ra := h.do("POST", "/v1/apps/socialops/alpha/webhook/generic-webhook", []byte(seedBody), jsonHeaders(keyA))
	require.Equal(t, 202, ra.status)
	threadA := ra.json["thread_id"].(string)
	rb := h.do("POST", "/v1/apps/socialops/beta/webhook/generic-webhook", []byte(seedBody), jsonHeaders(keyB))
	require.Equal(t, 202, rb.status)
	assert.NotEqual(t, threadA, rb.json["thread_id"], "the same external thread in two instances is two threads")
	pos := ra.header.Get("X-SocialOps-Position")

	// B's key on A's instance: 404, never 403.
	for _, p := range []string{"/inbox", "/threads", "/threads/" + threadA + "/messages", "/threads/" + threadA + "/events"} {
		r := h.get("/v1/apps/socialops/alpha"+p, keyB)
		assert.Equal(t, 404, r.status, p)
		assert.Equal(t, "instance_not_found", r.errorCode(), p)
	}
	// A's thread asked through B's own instance: 404 thread_not_found.
	for _, p := range []string{"/threads/" + threadA + "/messages", "/threads/" + threadA + "/events"} {
		r := h.get("/v1/apps/socialops/beta"+p, keyB, "X-SocialOps-Position", pos)
		assert.Equal(t, 404, r.status, p)
		assert.Equal(t, "thread_not_found", r.errorCode(), p)
	}
	// B's inbox holds only B's thread.
	r := h.get("/v1/apps/socialops/beta/inbox", keyB, "X-SocialOps-Position", rb.header.Get("X-SocialOps-Position"))
	assert.Equal(t, []string{rb.json["thread_id"].(string)}, threadIDs(r))
	// Missing scope: 403; missing key: 401.
	readOnly := h.key("owner-a", "socialops:read")
	r = h.get("/v1/apps/socialops/alpha/threads/"+threadA+"/events", readOnly)
	assert.Equal(t, 403, r.status)
	assert.Equal(t, "missing_scope", r.errorCode())
	writeOnly := h.key("owner-a", "socialops:write")
	r = h.get("/v1/apps/socialops/alpha/inbox", writeOnly)
	assert.Equal(t, 403, r.status)
	r = h.get("/v1/apps/socialops/alpha/inbox", "")
	assert.Equal(t, 401, r.status)
}

func TestMessagesAndAuditReplay(t *testing.T) {
	h := newHarness(t)
	h.instance("u", "support")
	key := h.key("u", "socialops:write", "socialops:read", "socialops:audit")
	var threadID, pos string
	for i := 0; i < 5; i++ {
		body := strings.Replace(telegramUpdate, "918273645", strconv.Itoa(918273645+i), 1)
		body = strings.Replace(body, `"message_id":77`, `"message_id":`+strconv.Itoa(77+i), 1)
		body = strings.Replace(body, "đơn hàng của tôi bị chậm", fmt.Sprintf("tin nhắn số %d", i), 1)
		r := h.do("POST", "/v1/apps/socialops/support/webhook/telegram", []byte(body), jsonHeaders(key))
		require.Equal(t, 202, r.status, string(r.body))
		threadID, pos = r.json["thread_id"].(string), r.header.Get("X-SocialOps-Position")
	}
	r := h.get("/v1/apps/socialops/support/threads/"+threadID+"/messages?limit=2&page=2", key, "X-SocialOps-Position", pos)
	require.Equal(t, 200, r.status, string(r.body))
	data := r.json["data"].(map[string]any)
	assert.EqualValues(t, 5, data["total"])
	msgs := data["messages"].([]any)
	require.Len(t, msgs, 2)
	m := msgs[0].(map[string]any)
	assert.Equal(t, "inbound", m["direction"])
	assert.Equal(t, "text", m["message_type"])
	assert.Contains(t, m["text"], "tin nhắn số 2", "oldest first: page 2 starts with the third message")
	assert.NotEmpty(t, m["sender_name"])

	// Ordinary responses carry no raw payload and no external id.
	inbox := h.get("/v1/apps/socialops/support/inbox", key)
	for _, body := range []string{string(r.body), string(inbox.body)} {
		for _, secret := range []string{"raw_payload", "update_id", "918273645", "-1001234567890", "5550001", "external", "provider_event_id", "lan_ng"} {
			assert.NotContains(t, body, secret)
		}
	}

	// The audit endpoint replays the whole history, raw payload included.
	ev := h.get("/v1/apps/socialops/support/threads/"+threadID+"/events", key)
	require.Equal(t, 200, ev.status, string(ev.body))
	events := ev.json["data"].(map[string]any)["events"].([]any)
	require.Len(t, events, 12, "opened + queued + 5 × (message + charge)")
	var types []string
	for i, e := range events {
		em := e.(map[string]any)
		types = append(types, em["type"].(string))
		assert.EqualValues(t, i, em["revision"])
		assert.EqualValues(t, 1, em["version"])
		assert.NotEmpty(t, em["occurred_at"])
		assert.Equal(t, "api_key", em["actor"].(map[string]any)["kind"])
	}
	assert.Equal(t, "ThreadOpened", types[0])
	assert.Equal(t, "SessionQueued", types[1], "a new thread's session waits for an operator")
	assert.Equal(t, "InboundMessageReceived", types[2])
	assert.Equal(t, "ChargeApplied", types[3])
	raw := events[2].(map[string]any)["data"].(map[string]any)["raw_payload"].(map[string]any)
	assert.EqualValues(t, 918273645, raw["update_id"])

	// Unknown thread: 404.
	r = h.get("/v1/apps/socialops/support/threads/soth_missing/messages", key)
	assert.Equal(t, 404, r.status)
	assert.Equal(t, "thread_not_found", r.errorCode())
	r = h.get("/v1/apps/socialops/support/threads/soth_missing/events", key)
	assert.Equal(t, 404, r.status)
}

func TestReadYourWrites(t *testing.T) {
	h := newHarness(t)
	h.instance("u", "support")
	key := h.key("u", "socialops:write", "socialops:read")
	for i := 0; i < 20; i++ {
		body := fmt.Sprintf(`{"event_id":"e%d","thread_id":"t%d","text":"x"}`, i, i)
		r := h.do("POST", "/v1/apps/socialops/support/webhook/generic-webhook", []byte(body), jsonHeaders(key))
		require.Equal(t, 202, r.status)
		q := h.get("/v1/apps/socialops/support/inbox?limit=100", key, "X-SocialOps-Position", r.header.Get("X-SocialOps-Position"))
		require.Equal(t, 200, q.status)
		assert.Empty(t, q.header.Get("X-SocialOps-Stale"))
		assert.Contains(t, threadIDs(q), r.json["thread_id"], "a query carrying the position sees the write")
	}
	// A position above the head is refused (TestPositionAheadOfTheLogRefused).
	q := h.get("/v1/apps/socialops/support/inbox", key, "X-SocialOps-Position", "999999999")
	assert.Equal(t, 400, q.status)
	// A position the projectors do not reach in time (the inbox projector's
	// checkpoint row is held, so it cannot commit): answered after the bounded
	// wait, marked stale.
	tx, err := h.pool.Begin(context.Background())
	require.NoError(t, err)
	defer tx.Rollback(context.Background()) //nolint:errcheck
	_, err = tx.Exec(context.Background(), `SELECT 1 FROM projection_checkpoints WHERE projector = 'inbox' FOR UPDATE`)
	require.NoError(t, err)
	r := h.do("POST", "/v1/apps/socialops/support/webhook/generic-webhook", []byte(`{"event_id":"late","thread_id":"late","text":"x"}`), jsonHeaders(key))
	require.Equal(t, 202, r.status)
	start := time.Now()
	q = h.get("/v1/apps/socialops/support/inbox", key, "X-SocialOps-Position", r.header.Get("X-SocialOps-Position"))
	assert.Equal(t, 200, q.status)
	assert.Equal(t, "true", q.header.Get("X-SocialOps-Stale"))
	assert.Less(t, time.Since(start), 5*time.Second)
}

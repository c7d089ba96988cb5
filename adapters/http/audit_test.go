package httpapi_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// auditPages walks a thread's history page by page and returns every page.
func auditPages(t *testing.T, h *harness, alias, threadID, key, limit string) []map[string]any {
	t.Helper()
	var pages []map[string]any
	query := "?limit=" + limit
	for i := 0; i < 100; i++ {
		r := h.get("/v1/apps/socialops/"+alias+"/threads/"+threadID+"/events"+query, key)
		require.Equal(t, 200, r.status, string(r.body))
		page := r.json["data"].(map[string]any)
		pages = append(pages, page)
		if page["has_more"] != true {
			assert.Nil(t, page["next_after"], "the last page names no next page")
			return pages
		}
		query = fmt.Sprintf("?limit=%s&after=%v", limit, page["next_after"])
	}
	t.Fatal("the pages never ended")
	return nil
}

func revisions(pages []map[string]any) []int {
	var out []int
	for _, p := range pages {
		for _, e := range p["events"].([]any) {
			out = append(out, int(e.(map[string]any)["revision"].(float64)))
		}
	}
	return out
}

func TestAuditEventsArePagedByCount(t *testing.T) {
	h := newHarness(t)
	h.instance("u", "support")
	key := h.key("u", "socialops:write", "socialops:audit")
	var thread string
	for i := 0; i < 5; i++ {
		body := fmt.Sprintf(`{"event_id":"e%d","thread_id":"t","text":"message %d"}`, i, i)
		r := h.do("POST", "/v1/apps/socialops/support/webhook/generic-webhook", []byte(body), jsonHeaders(key))
		require.Equal(t, 202, r.status, string(r.body))
		thread = r.json["thread_id"].(string)
	}

	pages := auditPages(t, h, "support", thread, key, "4")
	require.Len(t, pages, 3, "12 events (opened, queued, 5 × (message + charge)) in pages of 4")
	assert.Len(t, pages[0]["events"], 4)
	assert.EqualValues(t, 3, pages[0]["next_after"])
	assert.Len(t, pages[2]["events"], 4)
	assert.Equal(t, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, revisions(pages), "every event once, in order")

	// Past the end: an empty last page.
	r := h.get("/v1/apps/socialops/support/threads/"+thread+"/events?after=11", key)
	require.Equal(t, 200, r.status)
	assert.Empty(t, r.json["data"].(map[string]any)["events"])
	assert.Equal(t, false, r.json["data"].(map[string]any)["has_more"])

	for _, q := range []string{"after=-1", "after=x", "limit=0", "limit=1001", "limit=two"} {
		r := h.get("/v1/apps/socialops/support/threads/"+thread+"/events?"+q, key)
		assert.Equal(t, 400, r.status, q)
		assert.Equal(t, "invalid_parameter", r.errorCode(), q)
	}

	// A later page of another instance's thread is still not found.
	h.instance("v", "other")
	other := h.key("v", "socialops:audit")
	r = h.get("/v1/apps/socialops/other/threads/"+thread+"/events?after=4", other)
	assert.Equal(t, 404, r.status)
	assert.Equal(t, "thread_not_found", r.errorCode())
}

// Raw payloads make events large: a page stops once it holds 4 MiB of event
// data, however many events the limit allows, so no request loads a whole
// long thread into memory.
func TestAuditEventsArePagedByBytes(t *testing.T) {
	h := newHarness(t)
	h.instance("u", "support")
	key := h.key("u", "socialops:write", "socialops:audit")
	pad := strings.Repeat("p", 600<<10)
	var thread string
	for i := 0; i < 8; i++ {
		body := fmt.Sprintf(`{"event_id":"big%d","thread_id":"t","text":"m","extra":%q}`, i, pad)
		r := h.do("POST", "/v1/apps/socialops/support/webhook/generic-webhook", []byte(body), jsonHeaders(key))
		require.Equal(t, 202, r.status, string(r.body))
		thread = r.json["thread_id"].(string)
	}

	pages := auditPages(t, h, "support", thread, key, "1000")
	require.GreaterOrEqual(t, len(pages), 2, "8 × 600 KB of raw payloads do not fit one page")
	for _, p := range pages {
		n := 0
		for _, e := range p["events"].([]any) {
			if strings.Contains(fmt.Sprint(e.(map[string]any)["data"]), pad[:1000]) {
				n++
			}
		}
		assert.LessOrEqual(t, n, 7, "a page ends once it passes 4 MiB")
	}
	want := make([]int, 18) // opened + queued + 8 × (message + charge)
	for i := range want {
		want[i] = i
	}
	assert.Equal(t, want, revisions(pages), "every event once, in order")
}

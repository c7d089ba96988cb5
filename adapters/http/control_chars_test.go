package httpapi_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Console and API text with NUL or another control character is refused with
// 400 invalid_field naming the field, and nothing is stored: Postgres text
// cannot hold U+0000, so such an event would halt the projectors.
func TestConsoleTextWithControlCharactersRefused(t *testing.T) {
	h := newHarness(t)
	h.instance("alice", "support")
	key := h.key("alice", "socialops:write", "socialops:read")
	manage := h.token("alice", "service:manage")
	thread, _ := h.openThread("support", key, "e1")
	acct := h.account("alice")

	cases := []struct {
		name, method, path, body, field string
		apiKey                          bool
	}{
		{"note NUL", "POST", "/support/threads/" + thread + "/notes", `{"text":"checked\u0000 it"}`, "text", false},
		{"note bell", "POST", "/support/threads/" + thread + "/notes", `{"text":"ding\u0007"}`, "text", false},
		{"reply NUL", "POST", "/support/threads/" + thread + "/replies", `{"text":"we are on it\u0000"}`, "text", false},
		{"reply escape", "POST", "/support/threads/" + thread + "/replies", `{"text":"\u001b[31mred"}`, "text", false},
		{"API reply NUL", "POST", "/v1/apps/socialops/support/threads/" + thread + "/replies", `{"text":"a\u0000b"}`, "text", true},
		{"assignee NUL", "PATCH", "/support/threads/" + thread, `{"assignee":"ops\u0000"}`, "assignee", false},
		{"assignee tab", "PATCH", "/support/threads/" + thread, `{"assignee":"ops\tteam"}`, "assignee", false},
		{"assignee C1", "PATCH", "/support/threads/" + thread, `{"assignee":"ops\u009b1m"}`, "assignee", false},
		{"channel name NUL", "POST", "/support/channels", fmt.Sprintf(
			`{"provider":"telegram","connected_account_id":%q,"channel_name":"Support\u0000","external_channel_id":"-100123"}`, acct), "channel_name", false},
		{"channel name tab", "POST", "/support/channels", fmt.Sprintf(
			`{"provider":"telegram","connected_account_id":%q,"channel_name":"Support\tdesk","external_channel_id":"-100123"}`, acct), "channel_name", false},
		{"connected account NUL", "POST", "/support/channels",
			`{"provider":"telegram","connected_account_id":"conn_x\u0000","channel_name":"Support","external_channel_id":"-100123"}`, "connected_account_id", false},
	}
	head := h.head()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r response
			if tc.apiKey {
				r = h.do(tc.method, tc.path, []byte(tc.body), jsonHeaders(key))
			} else {
				r = h.console(tc.method, tc.path, manage, tc.body)
			}
			require.Equal(t, 400, r.status, string(r.body))
			assert.Equal(t, "invalid_field", r.errorCode())
			assert.Contains(t, r.errorMessage(), tc.field, "the message names the field")
			assert.Equal(t, head, h.head(), "nothing stored")
		})
	}

	// Line breaks and tabs stay allowed in multi-line texts; a CRLF becomes LF.
	r := h.console("POST", "/support/threads/"+thread+"/notes", manage, `{"text":"line one\r\n\tline two"}`)
	require.Equal(t, 201, r.status, string(r.body))
	assert.Equal(t, "line one\n\tline two", data(r)["message"].(map[string]any)["text"])
	require.NoError(t, h.runner.Healthy())
}

package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/domain"
)

func bearerKey(key string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + key, "Content-Type": "application/json"}
}

func (h *harness) orgID(alias string) int64 {
	s, err := h.tenancy.SettingsByAlias(context.Background(), alias)
	require.NoError(h.t, err)
	return s.OrganizationID
}

func TestSeed004OperatorsExamples(t *testing.T) {
	h := newHarness(t)
	h.instance("alice", "support")
	name := "Customer Support"
	_, err := h.tenancy.SetSettings(context.Background(), "support", &name, nil)
	require.NoError(t, err)
	key := h.key("alice", "socialops:write", "socialops:read")
	org := h.orgID("support")
	base := "/v1/apps/socialops/support/api/operator"

	body := fmt.Sprintf(`[{"organizationId":%d,"name":"Alex Brown"},{"organizationId":%d,"name":"Emma Davis"}]`, org, org)
	r := h.do("POST", base+"/synchronize", []byte(body), bearerKey(key))
	require.Equal(t, 200, r.status, string(r.body))
	var created []map[string]any
	require.NoError(t, json.Unmarshal(r.body, &created))
	require.Len(t, created, 2)
	assert.Equal(t, "Alex Brown", created[0]["name"])
	assert.EqualValues(t, 0, created[0]["status"])
	alex := int64(created[0]["id"].(float64))

	// Same names again, other case and spaces: the existing operators, nothing appended.
	head := h.head()
	r = h.do("POST", base+"/synchronize", []byte(fmt.Sprintf(`[{"organizationId":%d,"name":"  alex brown "}]`, org)), bearerKey(key))
	require.Equal(t, 200, r.status, string(r.body))
	var again []map[string]any
	require.NoError(t, json.Unmarshal(r.body, &again))
	assert.EqualValues(t, alex, again[0]["id"])
	assert.Equal(t, head, h.head(), "a known name stores nothing")

	r = h.do("GET", fmt.Sprintf("%s?organizationId=%d", base, org), nil, bearerKey(key))
	require.Equal(t, 200, r.status, string(r.body))
	var list []map[string]any
	require.NoError(t, json.Unmarshal(r.body, &list))
	require.Len(t, list, 2)
	assert.Equal(t, map[string]any{"id": float64(org), "name": "Customer Support"}, list[0]["organization"])

	r = h.do("POST", base+"/status", []byte(fmt.Sprintf(`{"id":%d,"status":1}`, alex)), bearerKey(key))
	require.Equal(t, 200, r.status, string(r.body))
	assert.Empty(t, r.body)
	r = h.do("POST", base+"/status", []byte(fmt.Sprintf(`{"id":%d,"status":2}`, alex)), bearerKey(key))
	require.Equal(t, 200, r.status, string(r.body))

	// Bad inputs: precise codes, nothing stored.
	head = h.head()
	for _, c := range []struct {
		method, path, body string
		status             int
		code               string
	}{
		{"GET", fmt.Sprintf("%s?organizationId=%d", base, org+1000), "", 404, "organization_not_found"},
		{"GET", base + "?organizationId=x", "", 400, "invalid_field"},
		{"POST", base + "/status", fmt.Sprintf(`{"id":%d,"status":0}`, alex), 409, "operator_deleted"},
		{"POST", base + "/status", `{"id":9999,"status":1}`, 404, "operator_not_found"},
		{"POST", base + "/status", fmt.Sprintf(`{"id":%d,"status":3}`, alex), 400, "invalid_field"},
		{"POST", base + "/synchronize", fmt.Sprintf(`[{"organizationId":%d,"name":"Ok"},{"organizationId":%d,"name":"   "}]`, org, org), 400, "invalid_field"},
		{"POST", base + "/synchronize", fmt.Sprintf(`[{"organizationId":%d,"name":"%s"}]`, org, strings.Repeat("x", 101)), 400, "invalid_field"},
		{"POST", base + "/synchronize", fmt.Sprintf(`[{"organizationId":%d,"name":"Other org"}]`, org+1000), 400, "invalid_field"},
		{"POST", base + "/synchronize", `[]`, 400, "invalid_field"},
		{"POST", base + "/synchronize", `{"name":"x"}`, 400, "invalid_payload"},
	} {
		r := h.do(c.method, c.path, []byte(c.body), bearerKey(key))
		assert.Equal(t, c.status, r.status, "%s %s %s: %s", c.method, c.path, c.body, r.body)
		assert.Equal(t, c.code, r.errorCode(), "%s %s", c.path, c.body)
	}
	r = h.do("POST", base+"/synchronize", []byte(fmt.Sprintf(`[{"organizationId":%d,"name":"Ok"},{"organizationId":%d,"name":""}]`, org, org)), bearerKey(key))
	assert.Contains(t, r.errorMessage(), "item 1")
	assert.Equal(t, head, h.head(), "refused calls store nothing")

	// Too many items.
	items := make([]string, 501)
	for i := range items {
		items[i] = fmt.Sprintf(`{"organizationId":%d,"name":"op %d"}`, org, i)
	}
	r = h.do("POST", base+"/synchronize", []byte("["+strings.Join(items, ",")+"]"), bearerKey(key))
	assert.Equal(t, 400, r.status)
	assert.Equal(t, head, h.head())
}

func TestSynchronizeTwiceAtOnceCreatesOnce(t *testing.T) {
	h := newHarness(t)
	h.instance("alice", "support")
	key := h.key("alice", "socialops:write", "socialops:read")
	org := h.orgID("support")
	body := []byte(fmt.Sprintf(`[{"organizationId":%d,"name":"Ann"},{"organizationId":%d,"name":"Bob"},{"organizationId":%d,"name":"ann"}]`, org, org, org))
	var wg sync.WaitGroup
	ids := make([][]float64, 8)
	for i := range ids {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := h.do("POST", "/v1/apps/socialops/support/api/operator/synchronize", body, bearerKey(key))
			require.Equal(t, 200, r.status, string(r.body))
			var out []map[string]any
			require.NoError(t, json.Unmarshal(r.body, &out))
			ids[i] = []float64{out[0]["id"].(float64), out[1]["id"].(float64), out[2]["id"].(float64)}
		}(i)
	}
	wg.Wait()
	for _, got := range ids {
		assert.Equal(t, []float64{1, 2, 1}, got)
	}
	assert.Equal(t, 2, countTypes(h.events())["OperatorCreated"])
}

func TestOwnOperatorAPIAndConsole(t *testing.T) {
	h := newHarness(t)
	h.instance("alice", "support")
	key := h.key("alice", "socialops:write", "socialops:read")
	api := "/v1/apps/socialops/support/operators"
	r := h.do("POST", api, []byte(`{"name":"Zoe","capacity":2}`), jsonHeaders(key))
	require.Equal(t, 201, r.status, string(r.body))
	op := data(r)["operator"].(map[string]any)
	assert.EqualValues(t, 1, op["id"])
	assert.EqualValues(t, 2, op["capacity"])
	assert.Equal(t, "offline", op["presence"])
	pos := r.header.Get("X-SocialOps-Position")

	r = h.do("PATCH", api+"/1", []byte(`{"presence":"online","name":"Zoë"}`), jsonHeaders(key))
	require.Equal(t, 200, r.status, string(r.body))
	pos = r.header.Get("X-SocialOps-Position")
	hdr := jsonHeaders(key)
	hdr["X-SocialOps-Position"] = pos
	r = h.do("GET", api+"?presence=online&status=0", nil, hdr)
	require.Equal(t, 200, r.status, string(r.body))
	ops := data(r)["operators"].([]any)
	require.Len(t, ops, 1)
	assert.Equal(t, "Zoë", ops[0].(map[string]any)["name"])

	manage := h.token("alice", "service:manage")
	r = h.console("POST", "/support/operators", manage, `{"name":"Yan"}`)
	require.Equal(t, 201, r.status, string(r.body))
	ch := bearer(manage)
	ch["X-SocialOps-Position"] = r.header.Get("X-SocialOps-Position")
	r = h.do("GET", "/console/socialops/support/operators/2", nil, ch)
	require.Equal(t, 200, r.status, string(r.body))

	head := h.head()
	for _, c := range []struct {
		method, path, body string
		status             int
		code               string
	}{
		{"POST", api, `{"name":"zoë"}`, 409, "operator_name_taken"},
		{"POST", api, `{}`, 422, "missing_field"},
		{"POST", api, `{"name":"A","capacity":-1}`, 400, "invalid_field"},
		{"PATCH", api + "/1", `{"presence":"busy"}`, 400, "invalid_field"},
		{"PATCH", api + "/1", `{"status":7}`, 400, "invalid_field"},
		{"PATCH", api + "/99", `{"status":1}`, 404, "operator_not_found"},
		{"PATCH", api + "/x", `{"status":1}`, 404, "operator_not_found"},
		{"PATCH", api + "/1", `{}`, 422, "missing_field"},
		{"GET", api + "?status=5", "", 400, "invalid_parameter"},
	} {
		r := h.do(c.method, c.path, []byte(c.body), jsonHeaders(key))
		assert.Equal(t, c.status, r.status, "%s %s %s: %s", c.method, c.path, c.body, r.body)
		assert.Equal(t, c.code, r.errorCode(), "%s %s", c.path, c.body)
	}
	assert.Equal(t, head, h.head(), "refused calls store nothing")
}

// seed003 is the seed's own OpenAPI document (copied into testdata), with
// channelType's enum extended by SocialOps' provider names as the shipped
// document says.
var seed003 = sync.OnceValues(func() (*openapi3.T, error) {
	raw, err := os.ReadFile("cs/testdata/seed003-openapi.yaml")
	if err != nil {
		return nil, err
	}
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		return nil, err
	}
	// The seed contradicts itself: ApiResponse's data is an object, yet the
	// list responses (allOf ApiResponse) make it an array, so no list could
	// ever validate. Lists are checked with data left to their own branch.
	doc.Components.Schemas["ApiResponse"].Value.Properties["data"].Value.Type = nil
	for _, p := range []string{"generic-webhook", "telegram", "github"} {
		doc.Components.Schemas["SessionInfo"].Value.Properties["channelType"].Value.Enum =
			append(doc.Components.Schemas["SessionInfo"].Value.Properties["channelType"].Value.Enum, p)
	}
	return doc, doc.Validate(context.Background())
})

func validSeed003(t *testing.T, schema string, body []byte) {
	t.Helper()
	doc, err := seed003()
	require.NoError(t, err)
	var v any
	require.NoError(t, json.Unmarshal(body, &v))
	require.NoError(t, doc.Components.Schemas[schema].Value.VisitJSON(v), "%s: %s", schema, body)
}

func TestSeed003Sessions(t *testing.T) {
	h := newHarness(t)
	h.instance("alice", "support")
	key := h.key("alice", "socialops:write", "socialops:read", "socialops:audit")
	base := "/v1/apps/socialops/support/api/sessions"
	thread, _ := h.openThread("support", key, "e1")
	for i := 0; i < 100; i++ {
		r := h.do("POST", "/v1/apps/socialops/support/operators", []byte(fmt.Sprintf(`{"name":"op %d"}`, i)), jsonHeaders(key))
		require.Equal(t, 201, r.status, string(r.body))
	}

	r := h.do("GET", base+"?status=pending", nil, bearerKey(key))
	require.Equal(t, 200, r.status, string(r.body))
	validSeed003(t, "SessionListResponse", r.body)
	list := r.json["data"].([]any)
	require.Len(t, list, 1)
	s := list[0].(map[string]any)
	assert.Equal(t, thread, s["sessionId"])
	assert.True(t, strings.HasPrefix(s["customerId"].(string), "socus_"))
	assert.Equal(t, "generic-webhook", s["channelType"])

	// Message on a pending session: the seed's wrong-status 400.
	head := h.head()
	r = h.do("POST", base+"/"+thread+"/message", []byte(`{"content":"hi"}`), bearerKey(key))
	require.Equal(t, 400, r.status)
	validSeed003(t, "ApiResponse", r.body)
	assert.Equal(t, "会话状态不正确", r.json["message"])
	r = h.do("POST", base+"/"+thread+"/accept", []byte(`{}`), bearerKey(key))
	assert.Equal(t, 400, r.status)
	assert.Equal(t, "客服ID不能为空", r.json["message"])
	r = h.do("POST", base+"/soth_nope/accept", []byte(`{"csId":"1"}`), bearerKey(key))
	assert.Equal(t, 404, r.status)
	assert.Equal(t, "会话不存在", r.json["message"])
	validSeed003(t, "ApiResponse", r.body)
	r = h.do("GET", base+"/soth_nope", nil, bearerKey(key))
	assert.Equal(t, 404, r.status)
	assert.Equal(t, head, h.head(), "refused calls store nothing")

	// 100 operators accept at once: exactly one wins.
	var wg sync.WaitGroup
	statuses := make([]int, 100)
	msgs := make([]string, 100)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := h.do("POST", base+"/"+thread+"/accept", []byte(fmt.Sprintf(`{"csId":"%d"}`, i+1)), bearerKey(key))
			statuses[i] = r.status
			msgs[i], _ = r.json["message"].(string)
		}(i)
	}
	wg.Wait()
	wins, winner := 0, 0
	for i, st := range statuses {
		if st == 200 {
			wins, winner = wins+1, i+1
			continue
		}
		assert.Equal(t, 400, st)
		assert.Equal(t, "会话状态不正确", msgs[i])
	}
	assert.Equal(t, 1, wins)
	assert.Equal(t, 1, countTypes(h.events())["SessionAccepted"])

	r = h.do("GET", base+"/"+thread, nil, bearerKey(key))
	require.Equal(t, 200, r.status)
	validSeed003(t, "SessionResponse", r.body)
	assert.Equal(t, "manual", r.json["data"].(map[string]any)["status"])

	r = h.do("POST", base+"/"+thread+"/message", []byte(`{"content":"您好","msgType":"text"}`), bearerKey(key))
	require.Equal(t, 200, r.status, string(r.body))
	validSeed003(t, "ApiResponse", r.body)
	assert.Equal(t, 1, countTypes(h.events())["ReplyQueued"], "queued like any reply")
	r = h.do("POST", base+"/"+thread+"/message", []byte(`{"content":"  "}`), bearerKey(key))
	assert.Equal(t, "消息内容不能为空", r.json["message"])

	r = h.do("GET", base+"/"+thread+"/history", nil, bearerKey(key))
	require.Equal(t, 200, r.status)
	validSeed003(t, "MessageListResponse", r.body)
	hist := r.json["data"].([]any)
	require.Len(t, hist, 2)
	assert.Equal(t, "customer", hist[0].(map[string]any)["senderType"])
	assert.Equal(t, s["customerId"], hist[0].(map[string]any)["senderId"])
	assert.Equal(t, "manual", hist[1].(map[string]any)["senderType"])

	r = h.do("POST", base+"/"+thread+"/close", nil, bearerKey(key))
	require.Equal(t, 200, r.status, string(r.body))
	validSeed003(t, "ApiResponse", r.body)
	r = h.do("GET", base+"?status=closed", nil, bearerKey(key))
	validSeed003(t, "SessionListResponse", r.body)
	require.Len(t, r.json["data"].([]any), 1)

	// A new inbound message reopens the session.
	body := `{"event_id":"e2","thread_id":"chat-e1","text":"again"}`
	r = h.do("POST", "/v1/apps/socialops/support/webhook/generic-webhook", []byte(body), jsonHeaders(key))
	require.Equal(t, 202, r.status, string(r.body))
	r = h.do("GET", base+"/"+thread, nil, bearerKey(key))
	assert.Equal(t, "pending", r.json["data"].(map[string]any)["status"])
	assert.Equal(t, 1, countTypes(h.events())["SessionReopened"])

	// The thread PATCH assignee takes an active operator's id.
	manage := h.token("alice", "service:manage")
	head = h.head()
	for _, a := range []string{`"nobody"`, `"999"`} {
		r = h.console("PATCH", "/support/threads/"+thread, manage, `{"assignee":`+a+`}`)
		assert.Equal(t, http.StatusUnprocessableEntity, r.status, string(r.body))
		assert.Equal(t, "operator_not_assignable", r.errorCode())
	}
	assert.Equal(t, head, h.head())
	// Another operator than the one who accepted (still the thread's
	// assignee after the reopening: assigning that one again changes nothing).
	other := strconv.Itoa(winner%100 + 1)
	r = h.console("PATCH", "/support/threads/"+thread, manage, `{"assignee":"`+other+`"}`)
	require.Equal(t, 200, r.status, string(r.body))
	r = h.do("GET", base+"?csId="+other, nil, bearerKey(key))
	require.Len(t, r.json["data"].([]any), 1)
}

// consoleOperator creates an operator through the console and returns its id
// as a thread PATCH takes it.
func (h *harness) consoleOperator(alias, token, name string) string {
	h.t.Helper()
	r := h.console("POST", "/"+alias+"/operators", token, fmt.Sprintf(`{"name":%q}`, name))
	require.Equal(h.t, 201, r.status, string(r.body))
	return fmt.Sprint(int64(data(r)["operator"].(map[string]any)["id"].(float64)))
}

// An accept counts the session on the operator first: a full operator is
// refused (nothing stored), and closing a session makes room again.
func TestSeed003AcceptRespectsCapacity(t *testing.T) {
	h := newHarness(t)
	inst := h.instance("alice", "support")
	key := h.key("alice", "socialops:write", "socialops:read")
	r := h.do("POST", "/v1/apps/socialops/support/operators", []byte(`{"name":"Solo","capacity":1}`), jsonHeaders(key))
	require.Equal(t, 201, r.status, string(r.body))
	first, _ := h.openThread("support", key, "e1")
	second, _ := h.openThread("support", key, "e2")
	base := "/v1/apps/socialops/support/api/sessions"

	r = h.do("POST", base+"/"+first+"/accept", []byte(`{"csId":"1"}`), bearerKey(key))
	require.Equal(t, 200, r.status, string(r.body))
	head := h.head()
	r = h.do("POST", base+"/"+second+"/accept", []byte(`{"csId":"1"}`), bearerKey(key))
	assert.Equal(t, 400, r.status, string(r.body))
	assert.Equal(t, "客服接待已达上限", r.json["message"])
	assert.Equal(t, head, h.head(), "nothing stored")

	r = h.do("POST", base+"/"+first+"/close", nil, bearerKey(key))
	require.Equal(t, 200, r.status, string(r.body))
	// The close frees the capacity once the routing manager counts it; the
	// harness runs none, so release it as the manager would.
	var closedAt uint64
	for _, e := range h.events() {
		if c, ok := e.Payload.(domain.SessionClosed); ok && c.ThreadID == first {
			closedAt = e.Raw.Revision
		}
	}
	require.NoError(t, h.commands.NewRoutingManager().Release(context.Background(), inst.ID, first, domain.SessionReasonClosed, closedAt))
	r = h.do("POST", base+"/"+second+"/accept", []byte(`{"csId":"1"}`), bearerKey(key))
	assert.Equal(t, 200, r.status, string(r.body))
}

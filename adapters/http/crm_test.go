package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	httpapi "github.com/socialops/socialops/adapters/http"
	"github.com/socialops/socialops/adapters/postgres"
	"github.com/socialops/socialops/adapters/postgres/pgtest"
	"github.com/socialops/socialops/adapters/webhooks"
	"github.com/socialops/socialops/commands"
	"github.com/socialops/socialops/domain"
)

// crmEnv is an instance with messages from a Telegram user in two chats and
// from a WeCom user.
type crmEnv struct {
	*harness
	key  string
	inst domain.Instance
	seq  int
}

func newCRMEnv(t *testing.T, tweak func(*httpapi.Deps)) *crmEnv {
	h := newHarnessWith(t, pgtest.NewPool(t), tweak)
	e := &crmEnv{harness: h, inst: h.instance("owner-crm", "crm")}
	e.key = h.key("owner-crm", postgres.ScopeRead, postgres.ScopeWrite, postgres.ScopeAudit)
	return e
}

func (e *crmEnv) message(provider, chat, user, name, text string) (thread, contact string) {
	e.t.Helper()
	e.seq++
	res, err := e.commands.IngestWebhook(context.Background(), commands.IngestWebhook{Instance: e.inst, RawPayload: []byte(`{}`),
		Message: domain.InboundMessage{Provider: provider, ProviderEventID: fmt.Sprint("crm-", e.seq), ExternalThreadID: chat,
			MessageType: domain.MessageText, Text: text, Sender: domain.Sender{ExternalID: user, DisplayName: name}}})
	require.NoError(e.t, err)
	return res.ThreadID, domain.ContactID(e.inst.ID, provider, domain.Sender{ExternalID: user}, chat)
}

func (e *crmEnv) api(method, path, body string) response {
	e.t.Helper()
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	return e.do(method, "/v1/apps/socialops/crm"+path, b, jsonHeaders(e.key))
}

// The same Telegram user in two chats is one contact with both threads; a
// WeCom user and a CRM record with the same phone link.
func TestContactsAcrossChannelsAndCRMLinking(t *testing.T) {
	e := newCRMEnv(t, nil)
	group, ann := e.message("telegram", "-100123", "555", "Ann", "hello from the group")
	private, ann2 := e.message("telegram", "555", "555", "Ann", "hello in private")
	assert.Equal(t, ann, ann2, "one person, one contact")
	wecomThread, wei := e.message("wecom", "wei-li", "wei-li", "Wei Li", "你好")
	e.settle()

	r := e.api("GET", "/contacts/"+ann+"/threads", "")
	require.Equal(t, 200, r.status, string(r.body))
	ids := []string{}
	for _, th := range data(r)["threads"].([]any) {
		ids = append(ids, th.(map[string]any)["thread_id"].(string))
	}
	assert.ElementsMatch(t, []string{group, private}, ids)

	r = e.api("PATCH", "/contacts/"+wei, `{"phone":"+86 138 0013 8000","tags":["vip"],"attributes":{"city":"上海"}}`)
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, "+8613800138000", data(r)["phone"])
	r = e.api("POST", "/api/v1/customers", `{"customer_id":"C-1","name":"李伟","phone":"+86-138-0013-8000","level":"gold","tags":["vip","2024"]}`)
	require.Equal(t, 200, r.status, string(r.body))
	out := data(r)["customers"].([]any)[0].(map[string]any)
	assert.Equal(t, wei, out["contact_id"])
	e.settle()
	r = e.api("GET", "/contacts/"+wei, "")
	require.Equal(t, 200, r.status)
	assert.Equal(t, "gold", data(r)["level"])
	assert.Equal(t, "李伟", data(r)["name"])
	assert.Equal(t, "C-1", data(r)["customer_id"])
	assert.Equal(t, []any{map[string]any{"provider": "wecom", "external_id": "wei-li"}}, data(r)["identities"])

	// The profile's history, with its actors.
	r = e.api("GET", "/contacts/"+wei+"/history", "")
	require.Equal(t, 200, r.status, string(r.body))
	hist := data(r)["history"].([]any)
	require.Len(t, hist, 2, "the agent's change, then the CRM's")
	assert.Equal(t, "ContactProfileChanged", hist[0].(map[string]any)["type"])
	assert.Equal(t, "api_key", hist[0].(map[string]any)["actor"].(map[string]any)["kind"])
	assert.Equal(t, "crm", hist[1].(map[string]any)["data"].(map[string]any)["source"])

	// The thread view shows the contact panel.
	r = e.api("GET", "/threads/"+wecomThread+"/contact", "")
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, wei, data(r)["contact_id"])

	// Search by name, phone, email, tag.
	for q, want := range map[string]string{"李伟": wei, "13800138000": wei, "vip": wei, "ann": ann} {
		r = e.do("GET", "/v1/apps/socialops/crm/contacts?q="+urlQuery(q), nil, jsonHeaders(e.key))
		require.Equal(t, 200, r.status)
		found := false
		for _, c := range data(r)["contacts"].([]any) {
			found = found || c.(map[string]any)["contact_id"] == want
		}
		assert.True(t, found, "q=%s", q)
	}
}

func urlQuery(s string) string { return url.QueryEscape(s) }

// A CRM record two contacts match is listed for a person, not merged; the
// same batch twice changes nothing the second time; bad records store nothing.
func TestCRMAmbiguityIdempotencyAndBadInput(t *testing.T) {
	e := newCRMEnv(t, nil)
	_, a := e.message("telegram", "1", "1", "A", "hi")
	_, b := e.message("telegram", "2", "2", "B", "hi")
	e.settle()
	for _, c := range []string{a, b} {
		require.Equal(t, 200, e.api("PATCH", "/contacts/"+c, `{"email":"Shared@Example.com"}`).status)
	}
	batch := `{"customers":[{"customer_id":"C-9","name":"Shared","phone":"","email":"shared@example.com","level":"","tags":[]},
		{"customer_id":"C-10","name":"Nobody","phone":"+1 555 0100","level":"silver","tags":["x"]}]}`
	r := e.api("POST", "/api/v1/customers", batch)
	require.Equal(t, 200, r.status, string(r.body))
	first := data(r)["customers"].([]any)[0].(map[string]any)
	assert.Nil(t, first["contact_id"])
	assert.ElementsMatch(t, []any{a, b}, first["candidates"])
	e.settle()
	r = e.api("GET", "/customers/ambiguous", "")
	require.Equal(t, 200, r.status)
	require.Len(t, data(r)["customers"], 1)

	head := e.head()
	r = e.api("POST", "/api/v1/customers", batch)
	require.Equal(t, 200, r.status)
	for _, c := range data(r)["customers"].([]any) {
		assert.Equal(t, false, c.(map[string]any)["changed"])
	}
	assert.Equal(t, head, e.head(), "the same batch twice changes nothing")

	// A person decides.
	r = e.api("POST", "/contacts/"+b+"/link", `{"customer_id":"C-9"}`)
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, "C-9", data(r)["customer_id"])
	e.settle()
	assert.Empty(t, data(e.api("GET", "/customers/ambiguous", ""))["customers"])

	head = e.head()
	for _, bad := range []string{
		`{"customers":[{"customer_id":"ok","name":"x"},{"name":"no id"}]}`,
		`{"customer_id":"x","phone":"12"}`,
		`{"customer_id":"x","email":"not-an-email"}`,
		`{"customers":[]}`,
		`{"customer_id":"x","tags":["` + strings.Repeat("t", 51) + `"]}`,
	} {
		r := e.api("POST", "/api/v1/customers", bad)
		assert.GreaterOrEqual(t, r.status, 400, bad)
	}
	for _, bad := range []string{
		`{"customer_id":"C-1","amount":100,"currency":"CNY","status":"paid","create_time":"2026-12-01T10:00:00Z"}`,
		`{"order_id":"O-1","customer_id":"C-1","amount":-1,"currency":"CNY","status":"paid","create_time":"2026-12-01T10:00:00Z"}`,
		`{"order_id":"O-1","customer_id":"C-1","amount":100,"currency":"yuan","status":"paid","create_time":"2026-12-01T10:00:00Z"}`,
		`{"order_id":"O-1","customer_id":"C-1","amount":100,"currency":"CNY","status":"paid","create_time":"yesterday"}`,
		`{"order_id":"O-1","customer_id":"C-1","amount":1.5,"currency":"CNY","status":"paid","create_time":"2026-12-01T10:00:00Z"}`,
	} {
		r := e.api("POST", "/api/v1/orders", bad)
		assert.GreaterOrEqual(t, r.status, 400, bad)
	}
	for _, bad := range []string{`{"title":"no subject"}`, `{"conversation_id":"soth_nope","title":"x"}`, `{"customer_id":"C-404","title":"x"}`, `{"customer_id":"C-9"}`} {
		r := e.api("POST", "/api/v1/tickets", bad)
		assert.GreaterOrEqual(t, r.status, 400, bad)
	}
	assert.Equal(t, 404, e.api("PUT", "/api/v1/tickets/nope", `{"status":"closed"}`).status)
	assert.Equal(t, head, e.head(), "nothing stored")

	// An order, stored once; shown with the customer's contact.
	order := `{"order_id":"O-7","customer_id":"C-9","amount":12999,"currency":"cny","status":"shipped","create_time":"2026-12-01T10:00:00Z"}`
	r = e.api("POST", "/api/v1/orders", order)
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, true, data(r)["changed"])
	assert.Equal(t, false, data(e.api("POST", "/api/v1/orders", order))["changed"])
	e.settle()
	r = e.api("GET", "/contacts/"+b, "")
	require.Len(t, data(r)["orders"], 1)
	assert.Equal(t, "CNY", data(r)["orders"].([]any)[0].(map[string]any)["currency"])
}

// Merging: the merged contact's threads and identities follow; it leaves
// search; an unmerge brings it back, and is refused after the window.
func TestMergeAndUnmerge(t *testing.T) {
	e := newCRMEnv(t, func(d *httpapi.Deps) { d.UnmergeWindow = 2 * time.Second })
	tgThread, tg := e.message("telegram", "77", "77", "Zoe", "hi")
	wcThread, wc := e.message("wecom", "zoe", "zoe", "Zoe W", "hi")
	e.settle()
	r := e.api("POST", "/contacts/"+tg+"/merge", `{"from":"`+wc+`"}`)
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, []any{wc}, data(r)["merged"])
	assert.Len(t, data(r)["identities"], 2)
	r = e.api("GET", "/contacts/"+tg+"/threads", "")
	assert.Len(t, data(r)["threads"], 2)
	r = e.api("GET", "/threads/"+wcThread+"/contact", "")
	assert.Equal(t, tg, data(r)["contact_id"], "the merged contact's thread shows the contact it joined")
	assert.Equal(t, "contact_merged", e.api("PATCH", "/contacts/"+wc, `{"name":"x"}`).errorCode())
	assert.Equal(t, "merge_not_allowed", e.api("POST", "/contacts/"+tg+"/merge", `{"from":"`+tg+`"}`).errorCode())

	r = e.api("POST", "/contacts/"+tg+"/unmerge", `{"from":"`+wc+`"}`)
	require.Equal(t, 200, r.status, string(r.body))
	e.settle()
	assert.Empty(t, data(r)["merged"])
	assert.Len(t, data(r)["identities"], 1)
	r = e.api("GET", "/threads/"+wcThread+"/contact", "")
	assert.Equal(t, wc, data(r)["contact_id"])
	_ = tgThread

	require.Equal(t, 200, e.api("POST", "/contacts/"+tg+"/merge", `{"from":"`+wc+`"}`).status)
	time.Sleep(2100 * time.Millisecond)
	assert.Equal(t, "merge_not_allowed", e.api("POST", "/contacts/"+tg+"/unmerge", `{"from":"`+wc+`"}`).errorCode(), "past the window")
}

// Tickets go out as ticket.created / ticket.status_changed; a ticket system
// echoing every status it receives back (a naive integration) never makes
// the change ping-pong: one change, one event, one push.
func TestTicketSyncNeverPingPongs(t *testing.T) {
	e := newCRMEnv(t, nil)
	thread, contact := e.message("telegram", "88", "88", "Max", "my order is broken")
	e.settle()
	var mu sync.Mutex
	got := map[string]int{}
	var ticketID string
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev struct {
			Event string         `json:"event"`
			Data  map[string]any `json:"data"`
		}
		_ = json.Unmarshal(body, &ev)
		mu.Lock()
		got[ev.Event]++
		mu.Unlock()
		w.WriteHeader(200)
		var status string
		switch ev.Event {
		case "ticket.created":
			status = "in_progress" // the ticket system picks it up
		case "ticket.status_changed":
			status = ev.Data["status"].(string) // and echoes what it hears
		default:
			return
		}
		go func() {
			req, _ := http.NewRequest("PUT", e.srv.URL+"/v1/apps/socialops/crm/api/v1/tickets/"+ev.Data["ticket_id"].(string),
				strings.NewReader(`{"status":"`+status+`","handler":"bob","update_time":"`+time.Now().UTC().Format(time.RFC3339Nano)+`"}`))
			req.Header.Set("X-API-Key", e.key)
			req.Header.Set("Content-Type", "application/json")
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
	}))
	t.Cleanup(receiver.Close)
	r := e.api("POST", "/webhooks", `{"url":"`+receiver.URL+`","events":["ticket.created","ticket.status_changed"]}`)
	require.Equal(t, 201, r.status, string(r.body))
	disp := webhooks.NewDispatcher(e.pool, e.store, e.registry, webhooks.NewStore(e.pool, webhooks.StoreOptions{EncryptionKey: testEncryptionKey, AllowPrivate: true}),
		webhooks.Options{AllowPrivate: true, PollInterval: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = disp.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	r = e.api("POST", "/api/v1/tickets", `{"conversation_id":"`+thread+`","title":"Broken order","content":"Item arrived broken","priority":"high","category":"after-sales"}`)
	require.Equal(t, 201, r.status, string(r.body))
	ticketID = data(r)["ticket_id"].(string)
	assert.Equal(t, contact, data(r)["contact_id"])
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return got["ticket.status_changed"] >= 1
	}, 15*time.Second, 50*time.Millisecond)
	time.Sleep(1500 * time.Millisecond) // room for any echo to come back
	changes := 0
	for _, ev := range e.events() {
		if c, ok := ev.Payload.(domain.TicketStatusChanged); ok && c.TicketID == ticketID {
			changes++
		}
	}
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, 1, changes, "one change")
	assert.Equal(t, 1, got["ticket.status_changed"], "one push: the echo changed nothing")
	// An older update than the last applied changes nothing either.
	r = e.api("PUT", "/api/v1/tickets/"+ticketID, `{"status":"open","update_time":"2020-01-01T00:00:00Z"}`)
	require.Equal(t, 200, r.status)
	assert.Equal(t, false, data(r)["changed"])
}

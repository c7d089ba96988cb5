package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/deliveryworker"
	httpapi "github.com/socialops/socialops/adapters/http"
	"github.com/socialops/socialops/adapters/postgres"
	"github.com/socialops/socialops/adapters/postgres/pgtest"
	"github.com/socialops/socialops/adapters/telegram"
	"github.com/socialops/socialops/commands"
	"github.com/socialops/socialops/domain"
)

// botCall is one Bot API call the stand-in received.
type botCall struct {
	Method              string `json:"-"`
	ChatID              string `json:"chat_id"`
	MessageID           int64  `json:"message_id"`
	Text                string `json:"text"`
	ParseMode           string `json:"parse_mode"`
	DisableNotification bool   `json:"disable_notification"`
	ReplyParameters     *struct {
		MessageID int64 `json:"message_id"`
	} `json:"reply_parameters"`
}

// botStandIn speaks the Bot API's sendMessage, editMessageText and
// deleteMessage wire format; refuse makes the next edit/delete fail as
// Telegram does for a message too old.
type botStandIn struct {
	srv    *httptest.Server
	mu     sync.Mutex
	calls  []botCall
	nextID int64
	refuse bool
}

func newBotStandIn(t *testing.T) *botStandIn {
	b := &botStandIn{nextID: 500}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, method, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/bot"), "/")
		var c botCall
		raw, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(raw, &c)
		c.Method = method
		b.mu.Lock()
		defer b.mu.Unlock()
		b.calls = append(b.calls, c)
		w.Header().Set("Content-Type", "application/json")
		switch {
		case method == "sendMessage":
			b.nextID++
			fmt.Fprintf(w, `{"ok":true,"result":{"message_id":%d,"date":1763726400,"chat":{"id":%s,"type":"private"},"text":%q}}`, b.nextID, c.ChatID, c.Text)
		case (method == "editMessageText" || method == "deleteMessage") && b.refuse:
			w.WriteHeader(400)
			_, _ = io.WriteString(w, `{"ok":false,"error_code":400,"description":"Bad Request: message can't be deleted for everyone"}`)
		case method == "editMessageText":
			fmt.Fprintf(w, `{"ok":true,"result":{"message_id":%d,"date":1763726400,"edit_date":1763726500,"chat":{"id":%s,"type":"private"},"text":%q}}`, c.MessageID, c.ChatID, c.Text)
		case method == "deleteMessage":
			_, _ = io.WriteString(w, `{"ok":true,"result":true}`)
		default:
			w.WriteHeader(404)
			_, _ = io.WriteString(w, `{"ok":false,"error_code":404,"description":"Not Found"}`)
		}
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *botStandIn) got() []botCall {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]botCall(nil), b.calls...)
}

// integrationEnv is the harness with a delivery manager speaking to the
// Bot API stand-in, an instance with a bound Telegram chat, and a wallet.
type integrationEnv struct {
	*harness
	bot     *botStandIn
	manager *commands.DeliveryManager
	key     string
	channel string
	chat    string
}

func newIntegrationEnv(t *testing.T) *integrationEnv {
	bot := newBotStandIn(t)
	pool := pgtest.NewPool(t)
	e := &integrationEnv{bot: bot, chat: "777000111"}
	h := newHarnessWith(t, pool, func(d *httpapi.Deps) {
		head := d.EventStore.(interface {
			HeadPosition(context.Context) (uint64, error)
		}).HeadPosition
		rm := deliveryworker.ReadModels{Q: pool, Head: head}
		e.manager = commands.NewDeliveryManager(d.Commands, rm, d.Accounts, rm, telegram.NewSender(bot.srv.URL, 2*time.Second),
			commands.DeliveryOptions{Worker: "test", FeeMicroUSD: 200, SendTimeout: 2 * time.Second, BaseBackoff: 10 * time.Millisecond})
		d.Messages = e.manager
	})
	e.harness = h
	inst := h.instance("owner-i", "integration")
	e.key = h.key("owner-i", postgres.ScopeRead, postgres.ScopeWrite, postgres.ScopeAudit)
	ctx := context.Background()
	acct, err := h.accounts.Create(ctx, inst.OwnerID, "telegram-bot", botToken)
	require.NoError(t, err)
	res, err := h.commands.CreateChannel(ctx, commands.CreateChannel{Command: domain.CreateChannelCommand{
		InstanceID: inst.ID, OwnerID: inst.OwnerID, Provider: "telegram", ConnectedAccountID: acct.ID,
		ChannelName: "Support bot", ExternalChannelID: e.chat,
		Account: domain.ConnectedAccount{ID: acct.ID, OwnerID: acct.OwnerID, Provider: acct.Provider, Status: acct.Status}, AccountFound: true,
	}})
	require.NoError(t, err)
	e.channel = res.Channel.ChannelID
	_, err = h.commands.CreditWallet(ctx, commands.CreditWallet{OwnerID: inst.OwnerID, AmountMicroUSD: 1_000_000})
	require.NoError(t, err)
	return e
}

func (e *integrationEnv) call(method, path, body string) response {
	e.t.Helper()
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	return e.do(method, "/v1/apps/socialops/integration/api/v1"+path, b, jsonHeaders(e.key))
}

// deliver drives a message's delivery to its end, as the worker would.
func (e *integrationEnv) deliver(threadID, messageID string) {
	e.t.Helper()
	e.settle()
	var actionID string
	require.NoError(e.t, e.pool.QueryRow(context.Background(), `SELECT action_id FROM thread_messages WHERE message_id = $1`, messageID).Scan(&actionID))
	require.NoError(e.t, e.manager.Drive(context.Background(), actionID, threadID))
}

func TestIntegrationAgents(t *testing.T) {
	h := newHarness(t)
	h.instance("owner-ag", "agents")
	key := h.key("owner-ag", postgres.ScopeRead, postgres.ScopeWrite)
	base := "/v1/apps/socialops/agents/api/v1/agents"
	before := h.head()
	for _, bad := range []struct{ body, code string }{
		{`{}`, "missing_field"},
		{`{"name":"  "}`, "invalid_field"},
		{`{"name":"Ann","capacity":-1}`, "invalid_field"},
		{`{"name":"Ann","status":2}`, "invalid_field"},
		{`{"name":"Ann","role":"boss"}`, "invalid_field"},
		{`[1]`, "invalid_field"},
	} {
		r := h.do("POST", base, []byte(bad.body), jsonHeaders(key))
		assert.Equal(t, bad.code, r.errorCode(), bad.body)
	}
	assert.Equal(t, before, h.head(), "refused requests store nothing")

	r := h.do("POST", base, []byte(`{"name":"Ann","capacity":3}`), jsonHeaders(key))
	require.Equal(t, 201, r.status, string(r.body))
	assert.Equal(t, map[string]any{"agent_id": 1.0, "name": "Ann", "status": 0.0, "capacity": 3.0, "presence": "offline", "open_sessions": 0.0}, data(r))
	r = h.do("PUT", base+"/1", []byte(`{"name":"Ann Lee","capacity":4,"status":1}`), jsonHeaders(key))
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, "Ann Lee", data(r)["name"])
	assert.Equal(t, 1.0, data(r)["status"])
	r = h.do("DELETE", base+"/1", nil, jsonHeaders(key))
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, 2.0, data(r)["status"])
	r = h.do("GET", base+"/1", nil, jsonHeaders(key))
	require.Equal(t, 200, r.status)
	assert.Equal(t, 2.0, data(r)["status"], "a deleted agent is still shown")
	assert.Equal(t, "Ann Lee", data(r)["name"])
	assert.Equal(t, 404, h.do("GET", base+"/9", nil, jsonHeaders(key)).status)
	assert.Equal(t, 404, h.do("GET", base+"/x", nil, jsonHeaders(key)).status)
	// Another owner's key sees nothing.
	other := h.key("owner-zz", postgres.ScopeRead)
	assert.Equal(t, 404, h.do("GET", base+"/1", nil, jsonHeaders(other)).status)
}

// The whole loop: an agent starts a conversation on a bound Telegram chat;
// the first message is delivered, edited there, and retracted there; the
// audit history keeps every text.
func TestIntegrationConversationAndMessageLifecycle(t *testing.T) {
	e := newIntegrationEnv(t)
	r := e.call("POST", "/agents", `{"name":"Ann"}`)
	require.Equal(t, 201, r.status, string(r.body))

	head := e.head()
	for _, bad := range []struct{ body, code string }{
		{`{"agent_id":1,"content":"hi"}`, "missing_field"},
		{`{"agent_id":1,"channel_id":"` + e.channel + `","visitor_id":"socus_x","content":"hi"}`, "missing_field"},
		{`{"channel_id":"` + e.channel + `","content":"hi"}`, "missing_field"},
		{`{"agent_id":1,"channel_id":"` + e.channel + `"}`, "missing_field"},
		{`{"agent_id":1,"channel_id":"sochan_nope","content":"hi"}`, "channel_not_found"},
		{`{"agent_id":1,"visitor_id":"socus_nope","content":"hi"}`, "contact_not_found"},
		{`{"agent_id":9,"channel_id":"` + e.channel + `","content":"hi"}`, "operator_not_found"},
		{`{"agent_id":1,"channel_id":"` + e.channel + `","content":" "}`, "missing_field"},
	} {
		r := e.call("POST", "/conversations", bad.body)
		assert.Equal(t, bad.code, r.errorCode(), bad.body)
	}
	assert.Equal(t, head, e.head(), "refused requests store nothing")

	r = e.call("POST", "/conversations", `{"agent_id":1,"channel_id":"`+e.channel+`","content":"Hello from support","subject":"Your order"}`)
	require.Equal(t, 201, r.status, string(r.body))
	conv := data(r)["conversation_id"].(string)
	first := data(r)["message"].(map[string]any)["message_id"].(string)
	assert.Equal(t, domain.InboundThreadID(e.instanceID(), "telegram", e.chat), conv, "the chat's own thread, where its replies land")
	assert.Equal(t, "manual", data(r)["status"])

	r = e.call("POST", "/conversations", `{"agent_id":1,"channel_id":"`+e.channel+`","content":"again"}`)
	assert.Equal(t, 409, r.status)
	assert.Equal(t, "conversation_in_progress", r.errorCode())

	e.settle()
	r = e.call("GET", "/conversations/"+conv, "")
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, 1.0, data(r)["agent_id"])
	assert.Equal(t, "manual", data(r)["status"])
	assert.Equal(t, "telegram", data(r)["channel"])
	assert.Equal(t, "Your order", data(r)["subject"])

	e.deliver(conv, first)
	calls := e.bot.got()
	require.Len(t, calls, 1)
	assert.Equal(t, "sendMessage", calls[0].Method)
	assert.Equal(t, "Hello from support", calls[0].Text)

	// Edit: propagated with editMessageText to the same Telegram message.
	e.settle()
	r = e.call("PUT", "/messages/"+first, `{"content":"Hello from support (edited)"}`)
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, true, data(r)["propagated"])
	assert.Equal(t, "provider", data(r)["propagation"])
	msg := data(r)["message"].(map[string]any)
	assert.Equal(t, "Hello from support (edited)", msg["content"])
	assert.NotNil(t, msg["edited_at"])
	calls = e.bot.got()
	require.Len(t, calls, 2)
	assert.Equal(t, botCall{Method: "editMessageText", ChatID: e.chat, MessageID: 501, Text: "Hello from support (edited)"}, calls[1])

	// A second message, then retract it: deleteMessage; reads hide the text.
	r = e.call("POST", "/messages", `{"conversation_id":"`+conv+`","content":"Oops, wrong chat"}`)
	require.Equal(t, 201, r.status, string(r.body))
	second := data(r)["message_id"].(string)
	e.deliver(conv, second)
	e.settle()
	r = e.call("DELETE", "/messages/"+second, "")
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, "provider", data(r)["propagation"])
	assert.Equal(t, true, data(r)["message"].(map[string]any)["retracted"])
	assert.Equal(t, "", data(r)["message"].(map[string]any)["content"])
	calls = e.bot.got()
	require.Len(t, calls, 4)
	assert.Equal(t, botCall{Method: "deleteMessage", ChatID: e.chat, MessageID: 502}, calls[3])
	r = e.call("DELETE", "/messages/"+second, "")
	assert.Equal(t, 200, r.status, "retracting twice answers the same")
	assert.Len(t, e.bot.got(), 4, "and calls nothing")
	r = e.call("PUT", "/messages/"+second, `{"content":"back"}`)
	assert.Equal(t, "message_not_editable", r.errorCode())

	// The audit history keeps every text.
	r = e.do("GET", "/v1/apps/socialops/integration/threads/"+conv+"/events?limit=100", nil, jsonHeaders(e.key))
	require.Equal(t, 200, r.status)
	audit := string(r.body)
	for _, want := range []string{"Oops, wrong chat", "Hello from support", "MessageEdited", "MessageRetracted"} {
		assert.Contains(t, audit, want)
	}

	// End the conversation; then a new one on the same chat reopens it.
	r = e.call("DELETE", "/conversations/"+conv, "")
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, "closed", data(r)["status"])
	assert.Equal(t, "resolved", data(r)["thread_status"])
	r = e.call("POST", "/conversations", `{"agent_id":1,"channel_id":"`+e.channel+`","content":"We are back"}`)
	require.Equal(t, 201, r.status, string(r.body))
	assert.Equal(t, conv, data(r)["conversation_id"])
}

// A message retracted before its delivery started is never sent; one edited
// before is sent with the new text; a refused provider edit is recorded.
func TestIntegrationChangesBeforeDeliveryAndRefusals(t *testing.T) {
	e := newIntegrationEnv(t)
	require.Equal(t, 201, e.call("POST", "/agents", `{"name":"Ann"}`).status)
	r := e.call("POST", "/conversations", `{"agent_id":1,"channel_id":"`+e.channel+`","content":"first draft"}`)
	require.Equal(t, 201, r.status, string(r.body))
	conv := data(r)["conversation_id"].(string)
	first := data(r)["message"].(map[string]any)["message_id"].(string)
	e.settle()
	r = e.call("PUT", "/messages/"+first, `{"content":"final text"}`)
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, "before_delivery", data(r)["propagation"])
	e.deliver(conv, first)
	require.Len(t, e.bot.got(), 1)
	assert.Equal(t, "final text", e.bot.got()[0].Text, "the delivery sends the edited text")

	r = e.call("POST", "/messages", `{"conversation_id":"`+conv+`","content":"never mind"}`)
	require.Equal(t, 201, r.status)
	second := data(r)["message_id"].(string)
	e.settle()
	r = e.call("DELETE", "/messages/"+second, "")
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, "before_delivery", data(r)["propagation"])
	e.deliver(conv, second)
	assert.Len(t, e.bot.got(), 1, "a retracted message is never sent")
	e.settle()
	r = e.call("GET", "/messages/"+second, "")
	require.Equal(t, 200, r.status)
	assert.Equal(t, "failed", data(r)["delivery_status"])
	assert.Equal(t, true, data(r)["retracted"])

	// Telegram refuses the edit: recorded, and the answer says why.
	e.bot.mu.Lock()
	e.bot.refuse = true
	e.bot.mu.Unlock()
	r = e.call("PUT", "/messages/"+first, `{"content":"too late"}`)
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, false, data(r)["propagated"])
	assert.Equal(t, "provider_refused", data(r)["propagation"])
	assert.Contains(t, data(r)["reason"], "telegram_400")

	// Inbound messages and unknown ids.
	assert.Equal(t, "message_not_found", e.call("GET", "/messages/somsg_nope", "").errorCode())
	assert.Equal(t, "message_not_found", e.call("PUT", "/messages/nope", `{"content":"x"}`).errorCode())
	assert.Equal(t, "thread_not_found", e.call("POST", "/messages", `{"conversation_id":"soth_nope","content":"x"}`).errorCode())
}

func (e *integrationEnv) instanceID() string {
	inst, err := e.tenancy.InstanceByAlias(context.Background(), "integration")
	require.NoError(e.t, err)
	return inst.ID
}

// Another instance's or another operator's conversations and messages
// answer 404 (data permissions).
func TestIntegrationDataPermissions(t *testing.T) {
	e := newIntegrationEnv(t)
	require.Equal(t, 201, e.call("POST", "/agents", `{"name":"Ann"}`).status)
	require.Equal(t, 201, e.call("POST", "/agents", `{"name":"Ben"}`).status)
	r := e.call("POST", "/conversations", `{"agent_id":2,"channel_id":"`+e.channel+`","content":"Ben writes"}`)
	require.Equal(t, 201, r.status, string(r.body))
	conv := data(r)["conversation_id"].(string)
	msg := data(r)["message"].(map[string]any)["message_id"].(string)
	e.settle()

	ann, _ := e.credential(postgres.CredentialSpec{OwnerID: "owner-i", InstanceAlias: "integration", OperatorID: 1,
		Scopes: []string{postgres.ScopeRead, postgres.ScopeWrite}})
	base := "/v1/apps/socialops/integration/api/v1"
	for _, p := range []string{"/conversations/" + conv, "/messages/" + msg} {
		r = e.do("GET", base+p, nil, jsonHeaders(ann))
		assert.Equal(t, 404, r.status, p)
	}
	head := e.head()
	r = e.do("POST", base+"/messages", []byte(`{"conversation_id":"`+conv+`","content":"not mine"}`), jsonHeaders(ann))
	assert.Equal(t, 404, r.status)
	r = e.do("POST", base+"/conversations", []byte(`{"agent_id":2,"channel_id":"`+e.channel+`","content":"as Ben"}`), jsonHeaders(ann))
	assert.Equal(t, "operator_not_assignable", r.errorCode())
	assert.Equal(t, head, e.head(), "nothing stored")

	// Another instance of the same owner, through an instance-scoped key.
	e.instance("owner-i", "integration-2")
	scoped, _ := e.credential(postgres.CredentialSpec{OwnerID: "owner-i", InstanceAlias: "integration-2", Scopes: []string{postgres.ScopeRead}})
	r = e.do("GET", "/v1/apps/socialops/integration-2/api/v1/conversations/"+conv, nil, jsonHeaders(scoped))
	assert.Equal(t, 404, r.status)
	r = e.do("GET", "/v1/apps/socialops/integration-2/api/v1/messages/"+msg, nil, jsonHeaders(scoped))
	assert.Equal(t, 404, r.status)
}

// A known contact (one who wrote before) is reached through visitor_id: the
// conversation reopens on their chat.
func TestIntegrationConversationWithAKnownContact(t *testing.T) {
	h := newHarness(t)
	h.instance("owner-v", "visitors")
	key := h.key("owner-v", postgres.ScopeRead, postgres.ScopeWrite)
	base := "/v1/apps/socialops/visitors/api/v1"
	require.Equal(t, 201, h.do("POST", base+"/agents", []byte(`{"name":"Ann"}`), jsonHeaders(key)).status)
	thread, _ := h.openThread("visitors", key, "v1")
	h.settle()
	r := h.do("GET", base+"/conversations/"+thread, nil, jsonHeaders(key))
	require.Equal(t, 200, r.status, string(r.body))
	visitor := data(r)["visitor_id"].(string)
	assert.Equal(t, "pending", data(r)["status"])

	r = h.do("POST", base+"/conversations", []byte(`{"agent_id":1,"visitor_id":"`+visitor+`","content":"hi"}`), jsonHeaders(key))
	assert.Equal(t, "conversation_in_progress", r.errorCode(), "their conversation is still open")
	require.Equal(t, 200, h.do("DELETE", base+"/conversations/"+thread, nil, jsonHeaders(key)).status)
	r = h.do("POST", base+"/conversations", []byte(`{"agent_id":1,"visitor_id":"`+visitor+`","content":"Following up"}`), jsonHeaders(key))
	require.Equal(t, 201, r.status, string(r.body))
	assert.Equal(t, thread, data(r)["conversation_id"])
	h.settle()
	r = h.do("GET", base+"/conversations/"+thread, nil, jsonHeaders(key))
	assert.Equal(t, "manual", data(r)["status"])
	assert.Equal(t, "open", data(r)["thread_status"])
	assert.Equal(t, 1.0, data(r)["agent_id"])
	// PUT: back to the queue, then priority.
	r = h.do("PUT", base+"/conversations/"+thread, []byte(`{"agent_id":null,"priority":"urgent"}`), jsonHeaders(key))
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, "pending", data(r)["status"])
	assert.Nil(t, data(r)["agent_id"])
	assert.Equal(t, "urgent", data(r)["priority"])
	r = h.do("PUT", base+"/conversations/"+thread, []byte(`{"agent_id":"one"}`), jsonHeaders(key))
	assert.Equal(t, "invalid_field", r.errorCode())
}

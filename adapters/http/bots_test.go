package httpapi_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/commands"
	"github.com/socialops/socialops/domain"
)

func (h *harness) countBots() int {
	h.t.Helper()
	var n int
	require.NoError(h.t, h.pool.QueryRow(context.Background(), `SELECT count(*) FROM bots`).Scan(&n))
	return n
}

// createBot makes a bot through the API and returns its id and token.
func (h *harness) createBot(alias, key, body string) (string, string) {
	h.t.Helper()
	r := h.do("POST", "/v1/apps/socialops/"+alias+"/bots", []byte(body), jsonHeaders(key))
	require.Equal(h.t, 201, r.status, string(r.body))
	bot := data(r)["bot"].(map[string]any)
	return bot["id"].(string), bot["token"].(string)
}

func TestBotManagement(t *testing.T) {
	h := newHarness(t)
	h.instance("owner-b", "bots")
	key := h.key("owner-b", "socialops:read", "socialops:write")
	base := "/v1/apps/socialops/bots/bots"
	for _, bad := range []struct{ body, code string }{
		{`{"webhook_url":"https://bot.example/hook"}`, "missing_field"},
		{`{"name":"FAQ"}`, "missing_field"},
		{`{"name":"FAQ","webhook_url":"ftp://bot.example"}`, "invalid_field"},
		{`{"name":"FAQ","webhook_url":"https://bot.example/hook","events":["typing"]}`, "invalid_field"},
		{`{"name":"FAQ","webhook_url":"https://bot.example/hook","mode":"sometimes"}`, "invalid_field"},
		{`{"name":"FAQ","webhook_url":"https://bot.example/hook","token":"mine"}`, "invalid_field"},
	} {
		r := h.do("POST", base, []byte(bad.body), jsonHeaders(key))
		assert.Equal(t, bad.code, r.errorCode(), bad.body)
	}
	assert.Zero(t, h.countBots(), "refused requests store nothing")

	r := h.do("POST", base, []byte(`{"name":"FAQ","webhook_url":"https://bot.example/hook","events":["message","member_join"],"mode":"observer"}`), jsonHeaders(key))
	require.Equal(t, 201, r.status, string(r.body))
	bot := data(r)["bot"].(map[string]any)
	id, token := bot["id"].(string), bot["token"].(string)
	assert.True(t, strings.HasPrefix(token, "sbt_"))
	assert.True(t, strings.HasPrefix(bot["secret"].(string), "whsec_"))
	assert.Equal(t, "observer", bot["mode"])
	r = h.do("POST", base, []byte(`{"name":"faq","webhook_url":"https://bot.example/2"}`), jsonHeaders(key))
	assert.Equal(t, "bot_name_taken", r.errorCode())

	r = h.do("GET", base, nil, jsonHeaders(key))
	require.Equal(t, 200, r.status)
	assert.NotContains(t, string(r.body), token)
	assert.NotContains(t, string(r.body), "whsec_")
	r = h.do("PATCH", base+"/"+id, []byte(`{"mode":"first","include_token":true}`), jsonHeaders(key))
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, "first", data(r)["bot"].(map[string]any)["mode"])

	r = h.do("POST", base+"/"+id+"/rotate-token", nil, jsonHeaders(key))
	require.Equal(t, 200, r.status, string(r.body))
	newToken := data(r)["bot"].(map[string]any)["token"].(string)
	assert.NotEqual(t, token, newToken)

	// The console manages the same bots.
	manage := h.token("owner-b", "service:manage")
	r = h.console("GET", "/bots/bots/"+id, manage, "")
	require.Equal(t, 200, r.status)
	r = h.console("DELETE", "/bots/bots/"+id, manage, "")
	assert.Equal(t, 204, r.status)
	assert.Equal(t, 404, h.do("GET", base+"/"+id, nil, jsonHeaders(key)).status)
	// Another owner sees none of it.
	assert.Equal(t, 404, h.do("GET", base, nil, jsonHeaders(h.key("owner-x", "socialops:read"))).status)
}

func sendText(e *integrationEnv, token string, form url.Values) response {
	e.t.Helper()
	return e.do("POST", "/v1/apps/socialops/integration/api/dialog/msg/sendtext", []byte(form.Encode()),
		map[string]string{"version": "1.0", "token": token, "Content-Type": "application/x-www-form-urlencoded"})
}

// telegramThread opens a thread on the bound chat with an inbound message.
func (e *integrationEnv) telegramThread(text string) (string, string) {
	e.t.Helper()
	inst, err := e.tenancy.InstanceByAlias(context.Background(), "integration")
	require.NoError(e.t, err)
	res, err := e.commands.IngestWebhook(context.Background(), commands.IngestWebhook{Instance: inst, Message: domain.InboundMessage{
		Provider: domain.ProviderTelegram, ProviderEventID: "u-" + text, ExternalThreadID: e.chat, ExternalMessageID: "77",
		MessageType: domain.MessageText, Text: text, Sender: domain.Sender{ExternalID: e.chat, DisplayName: "Customer"}}, RawPayload: []byte(`{}`)})
	require.NoError(e.t, err)
	return res.ThreadID, res.MessageID
}

// A bot answers a customer through sendtext: converted, delivered through
// the Bot API with its options, billed like a reply.
func TestBotSendTextDelivered(t *testing.T) {
	e := newIntegrationEnv(t)
	_, token := e.createBot("integration", e.key, `{"name":"FAQ","webhook_url":"https://bot.example/hook"}`)
	thread, inbound := e.telegramThread("Where is my order?")

	r := sendText(e, token, url.Values{"dialog_id": {thread}, "text": {"**Shipped** today: see [tracking](https://t.example/1) & relax"},
		"text_type": {"md"}, "silence": {"yes"}, "reply_id": {inbound}, "key": {"k1"}})
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, 1.0, r.json["ret"])
	assert.Equal(t, "success", r.json["msg"])
	d := r.json["data"].(map[string]any)
	msgID := d["msg_id"].(string)
	e.deliver(thread, msgID)
	calls := e.bot.got()
	require.Len(t, calls, 1)
	c := calls[0]
	assert.Equal(t, `<b>Shipped</b> today: see <a href="https://t.example/1">tracking</a> &amp; relax`, c.Text)
	assert.Equal(t, "HTML", c.ParseMode)
	assert.True(t, c.DisableNotification)
	require.NotNil(t, c.ReplyParameters)
	assert.Equal(t, int64(77), c.ReplyParameters.MessageID)

	// The same key again: the first message, nothing stored.
	head := e.head()
	r = sendText(e, token, url.Values{"dialog_id": {thread}, "text": {"something else"}, "key": {"k1"}})
	require.Equal(t, 200, r.status)
	assert.Equal(t, msgID, r.json["data"].(map[string]any)["msg_id"])
	assert.Equal(t, true, r.json["data"].(map[string]any)["replayed"])
	assert.Equal(t, head, e.head())
}

// Twenty concurrent sends with one key store one message.
func TestBotSendTextKeyUnderConcurrency(t *testing.T) {
	e := newIntegrationEnv(t)
	_, token := e.createBot("integration", e.key, `{"name":"FAQ","webhook_url":"https://bot.example/hook"}`)
	thread, _ := e.telegramThread("hello")
	var wg sync.WaitGroup
	ids := make([]string, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := sendText(e, token, url.Values{"dialog_id": {thread}, "text": {"one answer"}, "key": {"same-key"}})
			if assert.Equal(t, 200, r.status, string(r.body)) {
				ids[i] = r.json["data"].(map[string]any)["msg_id"].(string)
			}
		}()
	}
	wg.Wait()
	for _, id := range ids {
		assert.Equal(t, ids[0], id)
	}
	e.settle()
	var n int
	require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT count(*) FROM thread_messages WHERE thread_id = $1 AND direction = 'outbound'`, thread).Scan(&n))
	assert.Equal(t, 1, n)
}

// A 10,000-character text goes as three Telegram messages, in order.
func TestBotSendTextLongTextSplitInOrder(t *testing.T) {
	e := newIntegrationEnv(t)
	_, token := e.createBot("integration", e.key, `{"name":"FAQ","webhook_url":"https://bot.example/hook"}`)
	thread, _ := e.telegramThread("tell me everything")
	var b strings.Builder
	for i := 0; b.Len() < 10_000; i++ {
		fmt.Fprintf(&b, "Line %04d of the long answer, with a few more words.\n", i)
	}
	r := sendText(e, token, url.Values{"dialog_id": {thread}, "text": {b.String()}})
	require.Equal(t, 200, r.status, string(r.body))
	d := r.json["data"].(map[string]any)
	require.Equal(t, 3.0, d["parts"])
	for _, id := range d["message_ids"].([]any) {
		e.deliver(thread, id.(string))
	}
	var got strings.Builder
	for _, c := range e.bot.got() {
		assert.LessOrEqual(t, len([]rune(c.Text)), 4096)
		got.WriteString(c.Text)
	}
	assert.Equal(t, strings.TrimRight(b.String(), "\n"), strings.TrimRight(got.String(), "\n"), "every line, in order")
}

// Bad tokens and bad parameters get the seed's error envelope with a
// precise status, and store nothing; a session a person holds refuses the bot.
func TestBotSendTextRefusals(t *testing.T) {
	e := newIntegrationEnv(t)
	_, token := e.createBot("integration", e.key, `{"name":"FAQ","webhook_url":"https://bot.example/hook","mode":"observer"}`)
	thread, _ := e.telegramThread("hi")
	e.instance("owner-other", "elsewhere")
	head := e.head()
	path := "/v1/apps/socialops/integration/api/dialog/msg/sendtext"
	ok := url.Values{"dialog_id": {thread}, "text": {"hi"}}
	for _, c := range []struct {
		name   string
		header map[string]string
		form   url.Values
		status int
	}{
		{"no version", map[string]string{"token": token}, ok, 422},
		{"no token", map[string]string{"version": "1"}, ok, 401},
		{"wrong token", map[string]string{"version": "1", "token": "sbt_nope"}, ok, 401},
		{"no dialog", map[string]string{"version": "1", "token": token}, url.Values{"text": {"hi"}}, 422},
		{"unknown dialog", map[string]string{"version": "1", "token": token}, url.Values{"dialog_id": {"soth_nope"}, "text": {"hi"}}, 404},
		{"empty text", map[string]string{"version": "1", "token": token}, url.Values{"dialog_id": {thread}, "text": {"  "}}, 422},
		{"bad text_type", map[string]string{"version": "1", "token": token}, url.Values{"dialog_id": {thread}, "text": {"x"}, "text_type": {"rtf"}}, 400},
		{"bad silence", map[string]string{"version": "1", "token": token}, url.Values{"dialog_id": {thread}, "text": {"x"}, "silence": {"maybe"}}, 400},
		{"too long", map[string]string{"version": "1", "token": token}, url.Values{"dialog_id": {thread}, "text": {strings.Repeat("x", 200_001)}}, 400},
		{"unknown reply_id", map[string]string{"version": "1", "token": token}, url.Values{"dialog_id": {thread}, "text": {"x"}, "reply_id": {"somsg_nope"}}, 404},
	} {
		c.header["Content-Type"] = "application/x-www-form-urlencoded"
		r := e.do("POST", path, []byte(c.form.Encode()), c.header)
		assert.Equal(t, c.status, r.status, "%s: %s", c.name, r.body)
		assert.Equal(t, 0.0, r.json["ret"], c.name)
		assert.NotEmpty(t, r.json["msg"], c.name)
	}
	// Another instance's bot cannot write here.
	otherBotKey := e.harness.key("owner-other", "socialops:write")
	_, otherToken := e.createBot("elsewhere", otherBotKey, `{"name":"Other","webhook_url":"https://bot.example/o"}`)
	assert.Equal(t, 401, sendText(e, otherToken, ok).status)
	assert.Equal(t, head, e.head(), "nothing stored")

	// Once a person has the session, the bot no longer answers.
	require.Equal(t, 201, e.call("POST", "/agents", `{"name":"Ann"}`).status)
	r := e.do("POST", "/v1/apps/socialops/integration/api/sessions/"+thread+"/accept", []byte(`{"csId":"1"}`), bearerKey(e.key))
	require.Equal(t, 200, r.status, string(r.body))
	r = sendText(e, token, ok)
	assert.Equal(t, 409, r.status)
	assert.Contains(t, r.json["msg"], "bot no longer answers")
}

// A first-mode bot has new conversations (ai) and hands them off by call.
func TestBotHandoffEndpoint(t *testing.T) {
	e := newIntegrationEnv(t)
	_, token := e.createBot("integration", e.key, `{"name":"FAQ","webhook_url":"https://bot.example/hook","mode":"first"}`)
	thread, _ := e.telegramThread("hello bot")
	e.settle()
	r := e.call("GET", "/conversations/"+thread, "")
	require.Equal(t, 200, r.status)
	assert.Equal(t, "ai", data(r)["status"])
	path := "/v1/apps/socialops/integration/api/dialog/handoff"
	hd := map[string]string{"version": "1", "token": token, "Content-Type": "application/json"}
	r = e.do("POST", path, []byte(`{"dialog_id":"`+thread+`","reason":"asks about a refund"}`), hd)
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, "pending", r.json["data"].(map[string]any)["status"])
	r = e.do("POST", path, []byte(`{"dialog_id":"`+thread+`"}`), hd)
	assert.Equal(t, 200, r.status, "again while it waits: the same")
	r = e.do("POST", path, []byte(`{"dialog_id":"soth_nope"}`), hd)
	assert.Equal(t, 404, r.status)
	r = e.do("POST", path, []byte(`{"dialog_id":"`+thread+`"}`), map[string]string{"version": "1", "token": "sbt_x", "Content-Type": "application/json"})
	assert.Equal(t, 401, r.status)
	e.settle()
	r = e.call("GET", "/conversations/"+thread, "")
	assert.Equal(t, "pending", data(r)["status"])
}

package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/deliveryworker"
	"github.com/socialops/socialops/adapters/webhooks"
	"github.com/socialops/socialops/domain"
)

// localBot is a bot as a team would write it: a real HTTP server on
// loopback that checks each push's signature with the Standard Webhooks
// reference library and answers customer messages through sendtext.
type localBot struct {
	srv    *httptest.Server
	mu     sync.Mutex
	pushes []map[string]any
	bad    int
}

func newLocalBot(t *testing.T, secret func() string, reply func(push map[string]any)) *localBot {
	b := &localBot{}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		wh, err := standardwebhooks.NewWebhook(secret())
		if err != nil || wh.Verify(body, r.Header) != nil {
			b.mu.Lock()
			b.bad++
			b.mu.Unlock()
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var push map[string]any
		_ = json.Unmarshal(body, &push)
		b.mu.Lock()
		b.pushes = append(b.pushes, push)
		b.mu.Unlock()
		w.WriteHeader(http.StatusOK)
		if push["event"] == "message" {
			go reply(push)
		}
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *localBot) got() []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]map[string]any(nil), b.pushes...)
}

// The whole loop: a Telegram update becomes a message; the bot that answers
// first gets it pushed (signed), answers through sendtext, and its answer
// reaches the chat through the Bot API.
func TestBotWholeLoopFromTelegramUpdateToReply(t *testing.T) {
	e := newIntegrationEnv(t)
	ctx := context.Background()
	require.NoError(t, e.tenancy.SetWebhookSecret(ctx, "integration", "telegram", "tg-secret-0123456789"))
	var secret, token string
	var ready sync.WaitGroup
	ready.Add(1)
	bot := newLocalBot(t, func() string { ready.Wait(); return secret }, func(push map[string]any) {
		form := url.Values{"dialog_id": {push["dialog_id"].(string)}, "text": {"Echo: " + push["text"].(string)},
			"key": {push["msg_id"].(string)}, "reply_id": {push["msg_id"].(string)}}
		req, _ := http.NewRequest("POST", e.srv.URL+"/v1/apps/socialops/integration/api/dialog/msg/sendtext", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("version", push["version"].(string))
		req.Header.Set("token", token)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	})
	r := e.do("POST", "/v1/apps/socialops/integration/bots", []byte(`{"name":"Echo","webhook_url":"`+bot.srv.URL+`","mode":"first","events":["message","dialog_open"]}`), jsonHeaders(e.key))
	require.Equal(t, 201, r.status, string(r.body))
	created := data(r)["bot"].(map[string]any)
	secret, token = created["secret"].(string), created["token"].(string)
	ready.Done()

	// The follower that pushes, and the delivery worker, run as in serve.
	hooks := webhooks.NewStore(e.pool, webhooks.StoreOptions{EncryptionKey: testEncryptionKey, AllowPrivate: true})
	disp := webhooks.NewDispatcher(e.pool, e.store, e.registry, hooks, webhooks.Options{AllowPrivate: true, PollInterval: 50 * time.Millisecond})
	worker := deliveryworker.New(e.pool, e.store, e.registry, e.manager, deliveryworker.Options{})
	for _, run := range []func(context.Context) error{disp.Run, worker.Run} {
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { _ = run(rctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
	}

	update := `{"update_id":900001,"message":{"message_id":55,"from":{"id":777000111,"is_bot":false,"first_name":"Ann"},
		"chat":{"id":777000111,"first_name":"Ann","type":"private"},"date":1763726400,"text":"hello bot"}}`
	r = e.do("POST", "/v1/apps/socialops/integration/webhook/telegram", []byte(update), map[string]string{
		"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": "tg-secret-0123456789"})
	require.Equal(t, 202, r.status, string(r.body))
	thread := r.json["thread_id"].(string)

	require.Eventually(t, func() bool {
		for _, c := range e.bot.got() {
			if c.Method == "sendMessage" {
				return true
			}
		}
		return false
	}, 15*time.Second, 50*time.Millisecond, "the bot's answer reaches the Bot API")
	calls := e.bot.got()
	require.Len(t, calls, 1)
	assert.Equal(t, "Echo: hello bot", calls[0].Text)
	assert.Equal(t, e.chat, calls[0].ChatID)
	assert.Equal(t, "HTML", calls[0].ParseMode)
	require.NotNil(t, calls[0].ReplyParameters)
	assert.Equal(t, int64(55), calls[0].ReplyParameters.MessageID, "an answer to the customer's message")

	var msgPush, openPush map[string]any
	for _, p := range bot.got() {
		switch p["event"] {
		case "message":
			msgPush = p
		case "dialog_open":
			openPush = p
		}
	}
	require.NotNil(t, msgPush, "the message push")
	require.NotNil(t, openPush, "the dialog_open push")
	assert.Equal(t, thread, msgPush["dialog_id"])
	assert.Equal(t, thread, msgPush["session_id"])
	assert.Equal(t, "hello bot", msgPush["text"])
	assert.Equal(t, created["id"], msgPush["bot_uid"])
	assert.NotContains(t, msgPush, "token", "no credential in pushes unless include_token")
	for _, k := range []string{"event", "text", "reply_text", "session_id", "dialog_id", "dialog_type", "msg_id", "msg_uid", "msg_user", "mention", "bot_uid", "version"} {
		assert.Contains(t, msgPush, k)
	}
	assert.Zero(t, bot.bad, "every push verifies")

	// A bot written against the seed may ask for its token in the body.
	r = e.do("PATCH", "/v1/apps/socialops/integration/bots/"+created["id"].(string), []byte(`{"include_token":true}`), jsonHeaders(e.key))
	require.Equal(t, 200, r.status, string(r.body))
	update = strings.Replace(strings.Replace(update, "900001", "900002", 1), `"message_id":55`, `"message_id":56`, 1)
	r = e.do("POST", "/v1/apps/socialops/integration/webhook/telegram", []byte(update), map[string]string{
		"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": "tg-secret-0123456789"})
	require.Equal(t, 202, r.status, string(r.body))
	require.Eventually(t, func() bool {
		for _, p := range bot.got() {
			if p["event"] == "message" && p["token"] == token {
				return true
			}
		}
		return false
	}, 10*time.Second, 50*time.Millisecond, "include_token puts the token in the push")
	e.settle()
	r = e.call("GET", "/conversations/"+thread, "")
	assert.Equal(t, "ai", data(r)["status"], "the bot has the session")

	// Membership updates become events of the conversation, pushed to bots
	// that want them, never billed.
	r = e.do("PATCH", "/v1/apps/socialops/integration/bots/"+created["id"].(string), []byte(`{"events":["message","member_join","member_leave"]}`), jsonHeaders(e.key))
	require.Equal(t, 200, r.status, string(r.body))
	join := `{"update_id":900003,"message":{"message_id":57,"date":1763726500,"chat":{"id":777000111,"type":"group","title":"Ann's group"},
		"from":{"id":777000111,"first_name":"Ann"},"new_chat_members":[{"id":424242,"first_name":"Carl"}]}}`
	for range 2 { // a repeated delivery records nothing twice
		r = e.do("POST", "/v1/apps/socialops/integration/webhook/telegram", []byte(join), map[string]string{
			"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": "tg-secret-0123456789"})
		require.Equal(t, 200, r.status, string(r.body))
	}
	require.Eventually(t, func() bool {
		for _, p := range bot.got() {
			if p["event"] == "member_join" {
				return p["dialog_id"] == thread && p["member"].(map[string]any)["nickname"] == "Carl"
			}
		}
		return false
	}, 10*time.Second, 50*time.Millisecond, "the member_join push")
	e.settle()
	var members, inbound, inboundCharges int
	for _, ev := range e.events() {
		switch p := ev.Payload.(type) {
		case domain.MemberChanged:
			members++
		case domain.InboundMessageReceived:
			inbound++
		case domain.ChargeApplied:
			if p.Reason == domain.ChargeInboundMessage {
				inboundCharges++
			}
		}
	}
	assert.Equal(t, 1, members)
	assert.Equal(t, inbound, inboundCharges, "only messages are billed, membership is not")
}

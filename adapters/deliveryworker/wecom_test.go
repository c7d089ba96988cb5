package deliveryworker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/deliveryworker"
	"github.com/socialops/socialops/adapters/wecom"
	"github.com/socialops/socialops/commands"
	"github.com/socialops/socialops/domain"
)

// weComAPI is a local stand-in speaking the WeCom API's wire format:
// GET /cgi-bin/gettoken?corpid&corpsecret and
// POST /cgi-bin/message/send?access_token with {touser, msgtype, agentid, text}.
type weComAPI struct {
	srv        *httptest.Server
	mu         sync.Mutex
	tokens     int // gettoken calls
	sends      []weComSend
	sendAnswer func(n int) (errcode int, errmsg string) // nil: ok
}

type weComSend struct {
	Token   string
	ToUser  string `json:"touser"`
	MsgType string `json:"msgtype"`
	AgentID int64  `json:"agentid"`
	Text    struct {
		Content string `json:"content"`
	} `json:"text"`
}

func newWeComAPI(t *testing.T) *weComAPI {
	a := &weComAPI{}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		a.mu.Lock()
		defer a.mu.Unlock()
		switch r.URL.Path {
		case "/cgi-bin/gettoken":
			if r.URL.Query().Get("corpid") != "ww_corp" || r.URL.Query().Get("corpsecret") != "app-secret" {
				_, _ = io.WriteString(w, `{"errcode":40001,"errmsg":"invalid credential"}`)
				return
			}
			a.tokens++
			fmt.Fprintf(w, `{"errcode":0,"errmsg":"ok","access_token":"tok-%d","expires_in":7200}`, a.tokens)
		case "/cgi-bin/message/send":
			var s weComSend
			_ = json.NewDecoder(r.Body).Decode(&s)
			s.Token = r.URL.Query().Get("access_token")
			n := len(a.sends)
			a.sends = append(a.sends, s)
			if s.Token != fmt.Sprintf("tok-%d", a.tokens) {
				_, _ = io.WriteString(w, `{"errcode":40014,"errmsg":"invalid access_token"}`)
				return
			}
			if a.sendAnswer != nil {
				if code, msg := a.sendAnswer(n); code != 0 {
					fmt.Fprintf(w, `{"errcode":%d,"errmsg":%q}`, code, msg)
					return
				}
			}
			fmt.Fprintf(w, `{"errcode":0,"errmsg":"ok","invaliduser":"","msgid":"msg-%d"}`, n)
		default:
			w.WriteHeader(404)
		}
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *weComAPI) state() (int, []weComSend) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.tokens, append([]weComSend(nil), a.sends...)
}

func (e *env) weComThread(user string) string {
	eventSeq++
	m := domain.InboundMessage{Provider: wecom.Provider, ProviderEventID: fmt.Sprint("wc-", eventSeq), ExternalThreadID: "ww_corp:" + user,
		Subject: "WeCom " + user, MessageType: domain.MessageText, Text: "你好"}
	res, err := e.commands.IngestWebhook(context.Background(), commands.IngestWebhook{Instance: e.inst, Message: m, RawPayload: []byte(`{}`)})
	require.NoError(e.t, err)
	return res.ThreadID
}

func (e *env) weComWorker(api *weComAPI) *wecom.Sender {
	sender := wecom.NewSender(api.srv.URL, 2*time.Second, func(_ context.Context, instanceID string) (wecom.Credentials, bool, error) {
		return wecom.Credentials{CorpID: "ww_corp", AgentID: 1000002, Secret: "app-secret"}, instanceID == e.inst.ID, nil
	})
	m := e.manager("wc", commands.DeliveryOptions{}).WithProviderSender(wecom.Provider, sender)
	e.startWorker(m, deliveryworker.Options{})
	return sender
}

func TestWeComRepliesUseACachedToken(t *testing.T) {
	e := newEnv(t)
	e.credit(1_000_000)
	api := newWeComAPI(t)
	e.weComWorker(api)
	thread := e.weComThread("zhangsan")

	for _, text := range []string{"您好，正在处理", "已经发货"} {
		r := e.reply(thread, text)
		view := e.settle(r.ActionID, 20*time.Second)
		assert.Equal(t, domain.ActionCompleted, view.Status)
	}
	tokens, sends := api.state()
	assert.Equal(t, 1, tokens, "one gettoken for both replies")
	require.Len(t, sends, 2)
	assert.Equal(t, "zhangsan", sends[0].ToUser)
	assert.Equal(t, "text", sends[0].MsgType)
	assert.Equal(t, int64(1000002), sends[0].AgentID)
	assert.Equal(t, "已经发货", sends[1].Text.Content)
	assert.Equal(t, int64(1_000_000-200-2*200), e.balance(), "the inbound message and both replies are charged")
	e.ledgerInvariant()
}

func TestWeComTokenRefreshedOnExpiry(t *testing.T) {
	e := newEnv(t)
	e.credit(1_000_000)
	api := newWeComAPI(t)
	api.sendAnswer = func(n int) (int, string) {
		if n == 0 {
			return 42001, "access_token expired"
		}
		return 0, ""
	}
	e.weComWorker(api)
	r := e.reply(e.weComThread("lisi"), "hello")
	view := e.settle(r.ActionID, 20*time.Second)
	assert.Equal(t, domain.ActionCompleted, view.Status)
	assert.Equal(t, 1, view.Attempts, "a refreshed token is part of one attempt")
	tokens, sends := api.state()
	assert.Equal(t, 2, tokens)
	require.Len(t, sends, 2)
	assert.Equal(t, "tok-2", sends[1].Token)
}

func TestWeComSystemBusyIsRetried(t *testing.T) {
	e := newEnv(t)
	e.credit(1_000_000)
	api := newWeComAPI(t)
	api.sendAnswer = func(n int) (int, string) {
		if n == 0 {
			return -1, "system busy"
		}
		return 0, ""
	}
	e.weComWorker(api)
	r := e.reply(e.weComThread("wangwu"), "hello")
	view := e.settle(r.ActionID, 20*time.Second)
	assert.Equal(t, domain.ActionCompleted, view.Status)
	assert.Equal(t, 2, view.Attempts)
	assert.Equal(t, int64(1_000_000-200-200), e.balance(), "charged once")
}

func TestWeComPermanentErrorIsRefunded(t *testing.T) {
	e := newEnv(t)
	e.credit(1_000_000)
	api := newWeComAPI(t)
	api.sendAnswer = func(int) (int, string) { return 81013, "user & party & tag all invalid" }
	e.weComWorker(api)
	r := e.reply(e.weComThread("nobody"), "hello")
	view := e.settle(r.ActionID, 20*time.Second)
	assert.Equal(t, domain.ActionFailed, view.Status)
	require.NotNil(t, view.ErrorCode)
	assert.Equal(t, domain.DeliveryRejected, *view.ErrorCode)
	_, sends := api.state()
	assert.Len(t, sends, 1, "not retried")
	assert.Equal(t, int64(1_000_000-200), e.balance(), "only the inbound message is charged: the reply is refunded")
	e.ledgerInvariant()
	failed := 0
	for _, ev := range e.streamEvents(domain.DeliveryStream(r.ActionID)) {
		if ev.Type == "ReplyDeliveryFailed" || ev.Type == "DeliveryRefunded" {
			failed++
		}
	}
	assert.Equal(t, 2, failed, "failed and refunded once each")
}

func (e *env) streamEvents(stream string) []domain.Envelope {
	raw, err := e.store.ReadStream(context.Background(), stream, domain.Forwards, domain.StreamStart, 1000)
	require.NoError(e.t, err)
	var out []domain.Envelope
	for _, r := range raw {
		env, err := e.registry.Decode(r)
		require.NoError(e.t, err)
		out = append(out, env)
	}
	return out
}

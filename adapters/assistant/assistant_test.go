package assistant_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/ai"
	"github.com/socialops/socialops/adapters/assistant"
	pgstore "github.com/socialops/socialops/adapters/eventstore/postgres"
	"github.com/socialops/socialops/adapters/postgres"
	"github.com/socialops/socialops/adapters/postgres/pgtest"
	"github.com/socialops/socialops/adapters/projectionrunner"
	"github.com/socialops/socialops/commands"
	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

const apiKey = "sk-test-SECRET-never-logged-123"

// modelStandIn speaks the chat-completions wire format; answer decides each
// call's status, headers and content.
type modelStandIn struct {
	srv    *httptest.Server
	calls  atomic.Int64
	mu     sync.Mutex
	bodies []string
	answer func(n int64, prompt string) (int, map[string]string, string)
}

func newModel(t *testing.T, answer func(n int64, prompt string) (int, map[string]string, string)) *modelStandIn {
	m := &modelStandIn{answer: answer}
	m.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/chat/completions" || r.Header.Get("Authorization") != "Bearer "+apiKey {
			w.WriteHeader(401)
			_, _ = io.WriteString(w, `{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}`)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var req struct {
			Model    string       `json:"model"`
			Messages []ai.Message `json:"messages"`
		}
		_ = json.Unmarshal(body, &req)
		m.mu.Lock()
		m.bodies = append(m.bodies, string(body))
		m.mu.Unlock()
		n := m.calls.Add(1)
		status, headers, content := m.answer(n, req.Messages[len(req.Messages)-1].Content)
		for k, v := range headers {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		if status != 200 {
			fmt.Fprintf(w, `{"error":{"message":%q,"type":"server_error","code":null}}`, content)
			return
		}
		fmt.Fprintf(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1763726400,"model":%q,"choices":[{"index":0,"message":{"role":"assistant","content":%q},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":10,"total_tokens":20}}`, req.Model, content)
	}))
	t.Cleanup(m.srv.Close)
	return m
}

type env struct {
	t    *testing.T
	pool *pgxpool.Pool
	svc  *commands.Service
	inst domain.Instance
	seq  atomic.Int64
	logs *bytes.Buffer
	q    func(threadID string) string
	find func(q string) int
}

// start runs the projectors and the assistant with the given model client.
func start(t *testing.T, model *ai.Client, every int) *env {
	pool := pgtest.NewPool(t)
	logs := &bytes.Buffer{}
	var mu sync.Mutex
	logger := slog.New(slog.NewJSONHandler(lockedWriter{&mu, logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	store := pgstore.New(pool, logger)
	t.Cleanup(func() { _ = store.Close() })
	reg := domain.NewEventRegistry()
	svc := commands.NewService(store, reg, commands.Options{Logger: logger})
	inst, err := postgres.NewTenancy(pool, nil).CreateInstance(context.Background(), "owner-1", "support")
	require.NoError(t, err)
	runs := []func(context.Context) error{
		projectionrunner.New(pool, store, reg, projectionrunner.Options{Logger: logger}).Run,
		assistant.New(pool, store, reg, svc, model, assistant.Options{Logger: logger, Every: every}).Run,
	}
	for _, run := range runs {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = run(ctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	e := &env{t: t, pool: pool, svc: svc, inst: inst, logs: logs}
	e.q = func(threadID string) string {
		var s string
		_ = pool.QueryRow(context.Background(), `SELECT ai_summary FROM inbox_threads WHERE thread_id = $1`, threadID).Scan(&s)
		return s
	}
	e.find = func(q string) int {
		page, err := projections.ListThreads(context.Background(), pool, projections.ThreadFilter{InstanceID: inst.ID, Q: q})
		require.NoError(t, err)
		return page.Total
	}
	return e
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (e *env) say(chat, text string) string {
	e.t.Helper()
	n := e.seq.Add(1)
	res, err := e.svc.IngestWebhook(context.Background(), commands.IngestWebhook{Instance: e.inst, RawPayload: []byte(`{"secret":"raw payload"}`),
		Message: domain.InboundMessage{Provider: domain.ProviderGenericWebhook, ProviderEventID: fmt.Sprint("m-", n),
			ExternalThreadID: chat, Subject: "", MessageType: domain.MessageText, Text: text, Sender: domain.Sender{ExternalID: chat}}})
	require.NoError(e.t, err)
	return res.ThreadID
}

func (e *env) summary(thread string) string {
	e.t.Helper()
	var s string
	require.Eventually(e.t, func() bool { s = e.q(thread); return s != "" }, 10*time.Second, 20*time.Millisecond, "no summary for %s", thread)
	return s
}

func client(m *modelStandIn, callsPerHour int, timeout time.Duration) *ai.Client {
	return ai.New(ai.Config{BaseURL: m.srv.URL + "/v1", APIKey: apiKey, Model: "test-model", CallsPerHour: callsPerHour, Timeout: timeout})
}

// A model's summary is recorded (with the model's name), searchable by a
// two-character Chinese q, made from normalized messages only; the API key
// never reaches the logs.
func TestModelSummaryRecordedAndSearchable(t *testing.T) {
	m := newModel(t, func(int64, string) (int, map[string]string, string) {
		return 200, nil, "客户询问退款进度，订单已发货。"
	})
	e := start(t, client(m, 0, 5*time.Second), 5)
	thread := e.say("c1", "你好，我的订单什么时候退款？")
	assert.Equal(t, "客户询问退款进度，订单已发货。", e.summary(thread))
	assert.Equal(t, 1, e.find("退款"), "a two-character Chinese q finds the summary")
	assert.Zero(t, e.find("发票"))
	m.mu.Lock()
	sent := strings.Join(m.bodies, "\n")
	m.mu.Unlock()
	assert.Contains(t, sent, "Customer: 你好")
	assert.NotContains(t, sent, "raw payload", "never raw payloads")
	assert.NotContains(t, e.logs.String(), apiKey)
}

// Without a model, summaries are extractive, on Chinese and English threads.
func TestExtractiveWithoutAModel(t *testing.T) {
	e := start(t, ai.New(ai.Config{}), 5)
	en := e.say("c2", "Hello there. My parcel 4411 never arrived and the tracking page shows an error. Thanks!")
	zh := e.say("c3", "你好。我的包裹一直没有送到，物流信息显示异常。谢谢！")
	assert.Contains(t, e.summary(en), "parcel 4411 never arrived")
	assert.Contains(t, e.summary(zh), "包裹")
	assert.LessOrEqual(t, len([]rune(e.summary(en))), domain.MaxSummaryRunes)
}

// 429 with Retry-After is retried; a budget spent falls back to extractive;
// a model failure keeps the previous summary; a slow answer times out.
func TestModelFailuresAndBudget(t *testing.T) {
	m := newModel(t, func(n int64, prompt string) (int, map[string]string, string) {
		switch {
		case n == 1:
			return 429, map[string]string{"Retry-After": "1"}, "Rate limit reached for requests"
		case strings.Contains(prompt, "slow"):
			time.Sleep(1500 * time.Millisecond)
			return 200, nil, "too late"
		case strings.Contains(prompt, "break"):
			return 500, nil, "The server had an error while processing your request."
		}
		return 200, nil, "Customer asks about an order."
	})
	e := start(t, client(m, 3, time.Second), 1)
	first := e.say("c4", "where is my order?")
	assert.Equal(t, "Customer asks about an order.", e.summary(first), "retried after the 429")
	assert.Equal(t, int64(2), m.calls.Load())

	e.say("c4", "please break")
	time.Sleep(3 * time.Second) // 500, retried twice, given up
	assert.Equal(t, "Customer asks about an order.", e.q(first), "a failure keeps the previous summary")
	assert.Contains(t, e.logs.String(), "summary not made by the model")

	slow := e.say("c5", "slow question about delivery times")
	s := e.summary(slow)
	assert.NotEqual(t, "too late", s, "past the timeout the model's answer is not used")
	assert.Contains(t, s, "delivery times", "no previous summary: the extractive one")

	// The budget (3 calls an hour for the instance) is spent by now: no call leaves.
	before := m.calls.Load()
	other := e.say("c6", "a question after the budget is spent")
	assert.Contains(t, e.summary(other), "budget is spent")
	assert.LessOrEqual(t, m.calls.Load()-before, int64(0))
	assert.NotContains(t, e.logs.String(), apiKey)
}

// Per instance: another model than the configured one, or no model calls.
func TestInstanceAISettings(t *testing.T) {
	m := newModel(t, func(int64, string) (int, map[string]string, string) { return 200, nil, "Summary by the model." })
	e := start(t, client(m, 0, 5*time.Second), 1)
	tenancy := postgres.NewTenancy(e.pool, nil)
	other := "other-model"
	_, err := tenancy.SetAISettings(context.Background(), "support", &other, nil)
	require.NoError(t, err)
	first := e.say("c7", "where is my parcel?")
	assert.Equal(t, "Summary by the model.", e.summary(first))
	m.mu.Lock()
	assert.Contains(t, m.bodies[len(m.bodies)-1], `"model":"other-model"`)
	m.mu.Unlock()

	off := true
	_, err = tenancy.SetAISettings(context.Background(), "support", nil, &off)
	require.NoError(t, err)
	before := m.calls.Load()
	second := e.say("c8", "A question with AI turned off for the instance.")
	assert.Contains(t, e.summary(second), "AI turned off", "extractive")
	assert.Equal(t, before, m.calls.Load(), "no model call")
}

package deliveryworker_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/deliveryworker"
	pgstore "github.com/socialops/socialops/adapters/eventstore/postgres"
	"github.com/socialops/socialops/adapters/postgres"
	"github.com/socialops/socialops/adapters/postgres/pgtest"
	"github.com/socialops/socialops/adapters/projectionrunner"
	"github.com/socialops/socialops/adapters/telegram"
	"github.com/socialops/socialops/commands"
	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

const token = "777000111:AAF-fakeTokenForTheLocalBotApi_0123456789"

// botAPI is a local server speaking the Bot API's sendMessage wire format.
type botAPI struct {
	t     testing.TB
	srv   *httptest.Server
	mu    sync.Mutex
	calls []sendCall
	// answer decides each call's reply: HTTP status and body. Nil answers ok.
	answer func(n int, c sendCall) (int, string)
	nextID int
}

// Answers the botAPI gives instead of a body: cutBody drops the connection
// in the middle of a 200's body; slowBody answers 200 after 3 s.
const (
	cutBody  = "\x00cut"
	slowBody = "\x00slow"
)

type sendCall struct {
	Token     string
	ChatID    string `json:"chat_id"`
	Text      string `json:"text"`
	ParseMode string `json:"parse_mode"`
	At        time.Time
	OK        bool
}

func newBotAPI(t testing.TB) *botAPI {
	b := &botAPI{t: t, nextID: 1000}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := strings.TrimPrefix(r.URL.Path, "/bot")
		tok, method, ok := strings.Cut(path, "/")
		if !ok || method != "sendMessage" || r.Method != http.MethodPost {
			w.WriteHeader(404)
			_, _ = io.WriteString(w, `{"ok":false,"error_code":404,"description":"Not Found"}`)
			return
		}
		var c sendCall
		if err := json.NewDecoder(r.Body).Decode(&c); err != nil {
			w.WriteHeader(400)
			_, _ = io.WriteString(w, `{"ok":false,"error_code":400,"description":"Bad Request: invalid JSON"}`)
			return
		}
		c.Token, c.At = tok, time.Now()
		b.mu.Lock()
		n := len(b.calls)
		status, body := 200, ""
		if b.answer != nil {
			status, body = b.answer(n, c)
		}
		if status == 200 && body == "" {
			b.nextID++
			body = fmt.Sprintf(`{"ok":true,"result":{"message_id":%d,"date":1763726400,"chat":{"id":%s,"type":"supergroup"},"text":%q}}`, b.nextID, c.ChatID, c.Text)
			c.OK = true
		}
		if body == cutBody || body == slowBody {
			c.OK = true // Telegram took it; only the answer goes missing
		}
		b.calls = append(b.calls, c)
		b.mu.Unlock()
		switch body {
		case cutBody:
			// The status line and part of the body, then the connection drops.
			conn, buf, err := w.(http.Hijacker).Hijack()
			if err != nil {
				b.t.Errorf("hijack: %v", err)
				return
			}
			_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n{\"ok\":true,\"result\":{\"message_")
			_ = buf.Flush()
			_ = conn.Close()
			return
		case slowBody:
			// Telegram took the message but answers after the client gave up.
			select {
			case <-time.After(3 * time.Second):
			case <-r.Context().Done():
			}
			body = fmt.Sprintf(`{"ok":true,"result":{"message_id":1,"date":1763726400,"chat":{"id":%s,"type":"supergroup"},"text":%q}}`, c.ChatID, c.Text)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *botAPI) setAnswer(f func(n int, c sendCall) (int, string)) {
	b.mu.Lock()
	b.answer = f
	b.mu.Unlock()
}

func (b *botAPI) sent() []sendCall {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]sendCall(nil), b.calls...)
}

type env struct {
	t        testing.TB
	pool     *pgxpool.Pool
	store    *pgstore.Store
	registry *domain.Registry
	commands *commands.Service
	accounts *postgres.Accounts
	tenancy  *postgres.Tenancy
	bot      *botAPI
	logger   *slog.Logger
	inst     domain.Instance
	chat     string
	key      []byte // the bot tokens' encryption key
}

func newEnv(t testing.TB) *env {
	pool := pgtest.NewPool(t)
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	store := pgstore.New(pool, logger)
	t.Cleanup(func() { _ = store.Close() })
	reg := domain.NewEventRegistry()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	e := &env{t: t, pool: pool, store: store, registry: reg, logger: logger,
		commands: commands.NewService(store, reg, commands.Options{Logger: logger}),
		accounts: postgres.NewAccounts(pool, key, nil), tenancy: postgres.NewTenancy(pool, nil),
		bot: newBotAPI(t), chat: "-1001234567890", key: key}
	inst, err := e.tenancy.CreateInstance(context.Background(), "owner-1", "support")
	require.NoError(t, err)
	e.inst = inst
	runner := projectionrunner.New(pool, store, reg, projectionrunner.Options{Logger: logger})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = runner.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return e
}

func (e *env) credit(amount int64) {
	_, err := e.commands.CreditWallet(context.Background(), commands.CreditWallet{OwnerID: e.inst.OwnerID, AmountMicroUSD: amount})
	require.NoError(e.t, err)
}

// channel binds the chat through a fresh telegram-bot account.
func (e *env) channel(status string) (channelID, accountID string) {
	ctx := context.Background()
	acct, err := e.accounts.Create(ctx, e.inst.OwnerID, "telegram-bot", token)
	require.NoError(e.t, err)
	res, err := e.commands.CreateChannel(ctx, commands.CreateChannel{Command: domain.CreateChannelCommand{
		InstanceID: e.inst.ID, OwnerID: e.inst.OwnerID, Provider: "telegram", ConnectedAccountID: acct.ID,
		ChannelName: "Support Telegram", ExternalChannelID: e.chat, ParseMode: "HTML",
		Account: domain.ConnectedAccount{ID: acct.ID, OwnerID: acct.OwnerID, Provider: acct.Provider, Status: acct.Status}, AccountFound: true,
	}})
	require.NoError(e.t, err)
	if status != domain.ChannelActive {
		_, err = e.commands.SetChannelStatus(ctx, commands.SetChannelStatus{InstanceID: e.inst.ID, ChannelID: res.Channel.ChannelID, Status: status})
		require.NoError(e.t, err)
	}
	return res.Channel.ChannelID, acct.ID
}

var eventSeq int

// thread ingests a message from the chat (or a GitHub issue) and returns its thread id.
func (e *env) thread(provider string) string {
	eventSeq++
	m := domain.InboundMessage{Provider: provider, ProviderEventID: fmt.Sprint("ev-", eventSeq), ExternalThreadID: e.chat,
		Subject: "Help", MessageType: domain.MessageText, Text: "hello"}
	if provider == domain.ProviderGitHub {
		m.ExternalThreadID = "acme/api#1"
	}
	res, err := e.commands.IngestWebhook(context.Background(), commands.IngestWebhook{Instance: e.inst, Message: m, RawPayload: []byte(`{}`)})
	require.NoError(e.t, err)
	return res.ThreadID
}

func (e *env) reply(threadID, text string) domain.ReplyQueued {
	res, err := e.commands.QueueReply(context.Background(), commands.QueueReply{InstanceID: e.inst.ID, ThreadID: threadID, Text: text,
		Context: commands.Context{Actor: domain.Actor{Kind: domain.ActorUser, ID: "agent"}}})
	require.NoError(e.t, err)
	return res.Reply
}

func (e *env) manager(worker string, opts commands.DeliveryOptions) *commands.DeliveryManager {
	opts.Worker = worker
	if opts.FeeMicroUSD == 0 {
		opts.FeeMicroUSD = 200
	}
	if opts.BaseBackoff == 0 {
		opts.BaseBackoff = 10 * time.Millisecond
	}
	if opts.SendTimeout == 0 {
		opts.SendTimeout = 2 * time.Second
	}
	rm := deliveryworker.ReadModels{Q: e.pool, Head: e.store.HeadPosition}
	return commands.NewDeliveryManager(e.commands, rm, e.accounts, rm, telegram.NewSender(e.bot.srv.URL, opts.SendTimeout), opts)
}

// startWorker runs a delivery worker until the returned stop is called.
func (e *env) startWorker(m *commands.DeliveryManager, opts deliveryworker.Options) (stop func()) {
	opts.Logger = e.logger
	w := deliveryworker.New(e.pool, e.store, e.registry, m, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = w.Run(ctx); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	e.t.Cleanup(stop)
	return stop
}

// settle waits until the projectors caught up and the action ended.
func (e *env) settle(actionID string, within time.Duration) projections.ActionView {
	e.t.Helper()
	var view projections.ActionView
	require.Eventually(e.t, func() bool {
		row := e.pool.QueryRow(context.Background(), `SELECT action_id, status, attempts, error_code FROM reply_actions WHERE action_id = $1`, actionID)
		if err := row.Scan(&view.ActionID, &view.Status, &view.Attempts, &view.ErrorCode); err != nil {
			return false
		}
		return view.Status == domain.ActionCompleted || view.Status == domain.ActionFailed
	}, within, 20*time.Millisecond)
	// Then let every projector reach what was written by then.
	head, err := e.store.HeadPosition(context.Background())
	require.NoError(e.t, err)
	names := []string{}
	for _, p := range projections.All() {
		names = append(names, p.Name())
	}
	fresh, err := projections.WaitForPosition(context.Background(), e.pool, names, head, within)
	require.NoError(e.t, err)
	require.True(e.t, fresh, "projectors caught up")
	return view
}

func (e *env) balance() int64 {
	b, err := projections.Balance(context.Background(), e.pool, e.inst.OwnerID)
	require.NoError(e.t, err)
	return b
}

// ledgerInvariant checks balance = credits − charges + refunds, that every
// refund reverses one charge of the same amount, and that none is refunded twice.
func (e *env) ledgerInvariant() {
	e.t.Helper()
	ctx := context.Background()
	rows, err := e.pool.Query(ctx, `SELECT entry_id, kind, amount_micro_usd, coalesce(reverses_entry_id, '') FROM wallet_ledger WHERE owner_id = $1`, e.inst.OwnerID)
	require.NoError(e.t, err)
	charges := map[string]int64{}
	refunded := map[string]bool{}
	var sum int64
	type refund struct {
		charge string
		amount int64
	}
	var refunds []refund
	for rows.Next() {
		var id, kind, rev string
		var amount int64
		require.NoError(e.t, rows.Scan(&id, &kind, &amount, &rev))
		switch kind {
		case "credit":
			sum += amount
		case "charge":
			sum -= amount
			charges[id] = amount
		case "refund":
			sum += amount
			refunds = append(refunds, refund{rev, amount})
		}
	}
	require.NoError(e.t, rows.Err())
	for _, r := range refunds {
		amount, ok := charges[r.charge]
		require.True(e.t, ok, "refund names a charge: %s", r.charge)
		require.Equal(e.t, amount, r.amount, "refund of exactly the charged amount")
		require.False(e.t, refunded[r.charge], "charge %s refunded twice", r.charge)
		refunded[r.charge] = true
	}
	assert.Equal(e.t, sum, e.balance(), "balance = credits − charges + refunds")
}

func TestReplyDeliveredThroughTheBotAPI(t *testing.T) {
	e := newEnv(t)
	e.credit(1_000_000)
	channelID, _ := e.channel(domain.ChannelActive)
	thread := e.thread(domain.ProviderTelegram)
	e.startWorker(e.manager("w1", commands.DeliveryOptions{}), deliveryworker.Options{})
	r := e.reply(thread, "我们正在检查这个问题。<b>ok</b>")

	view := e.settle(r.ActionID, 20*time.Second)
	assert.Equal(t, domain.ActionCompleted, view.Status)
	assert.Equal(t, 1, view.Attempts)
	calls := e.bot.sent()
	require.Len(t, calls, 1, "exactly one sendMessage")
	assert.Equal(t, token, calls[0].Token)
	assert.Equal(t, e.chat, calls[0].ChatID)
	assert.Equal(t, "我们正在检查这个问题。<b>ok</b>", calls[0].Text)
	assert.Equal(t, "HTML", calls[0].ParseMode)
	assert.Equal(t, int64(1_000_000-200-200), e.balance(), "inbound message and delivered reply are charged")
	e.ledgerInvariant()

	var status string
	require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT delivery_status FROM thread_messages WHERE message_id = $1`, r.MessageID).Scan(&status))
	assert.Equal(t, domain.ActionCompleted, status)
	// Telegram's message_id is stored with the delivery, for audit.
	evs, err := e.store.ReadStream(context.Background(), domain.DeliveryStream(r.ActionID), domain.Forwards, 0, 100)
	require.NoError(t, err)
	last, err := e.registry.Decode(evs[len(evs)-1])
	require.NoError(t, err)
	assert.Equal(t, "1001", last.Payload.(domain.ReplyDelivered).ProviderMessageID)
	_ = channelID
}

func TestDeliveryFailuresAreAuditedAndCostNothing(t *testing.T) {
	cases := []struct {
		name     string
		setup    func(e *env) string // returns the thread
		answer   func(n int, c sendCall) (int, string)
		code     string
		sends    int
		refunded bool
	}{
		{"no channel", func(e *env) string { return e.thread("telegram") }, nil, domain.DeliveryChannelNotFound, 0, false},
		{"inactive channel", func(e *env) string { e.channel(domain.ChannelInactive); return e.thread("telegram") }, nil, domain.DeliveryChannelInactive, 0, false},
		{"inactive account", func(e *env) string {
			_, acct := e.channel(domain.ChannelActive)
			require.NoError(e.t, e.accounts.SetStatus(context.Background(), acct, "inactive"))
			return e.thread("telegram")
		}, nil, domain.DeliveryAccountInactive, 0, false},
		{"github has no sender", func(e *env) string { e.channel(domain.ChannelActive); return e.thread("github") }, nil, domain.DeliveryProviderNotSupported, 0, false},
		{"generic-webhook has no sender", func(e *env) string { e.channel(domain.ChannelActive); return e.thread("generic-webhook") }, nil, domain.DeliveryProviderNotSupported, 0, false},
		{"chat not found", func(e *env) string { e.channel(domain.ChannelActive); return e.thread("telegram") },
			func(int, sendCall) (int, string) {
				return 400, `{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}`
			}, domain.DeliveryRejected, 1, true},
		{"bot blocked", func(e *env) string { e.channel(domain.ChannelActive); return e.thread("telegram") },
			func(int, sendCall) (int, string) {
				return 403, `{"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}`
			}, domain.DeliveryRejected, 1, true},
		{"server errors until the limit", func(e *env) string { e.channel(domain.ChannelActive); return e.thread("telegram") },
			func(int, sendCall) (int, string) {
				return 502, `{"ok":false,"error_code":502,"description":"Bad Gateway"}`
			}, domain.DeliveryRetriesExhausted, 3, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.credit(10_000)
			thread := tc.setup(e)
			e.bot.setAnswer(tc.answer)
			e.startWorker(e.manager("w1", commands.DeliveryOptions{MaxAttempts: 3}), deliveryworker.Options{})
			before := int64(10_000 - 200) // the inbound message's charge
			r := e.reply(thread, "hello")
			view := e.settle(r.ActionID, 20*time.Second)
			assert.Equal(t, domain.ActionFailed, view.Status)
			require.NotNil(t, view.ErrorCode)
			assert.Equal(t, tc.code, *view.ErrorCode)
			assert.Len(t, e.bot.sent(), tc.sends)
			assert.Equal(t, before, e.balance(), "the balance is restored")
			e.ledgerInvariant()
			var refunds int
			require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT count(*) FROM wallet_ledger WHERE kind = 'refund' AND action_id = $1`, r.ActionID).Scan(&refunds))
			assert.Equal(t, map[bool]int{true: 1, false: 0}[tc.refunded], refunds)
			var reason string
			require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT failure_reason FROM thread_messages WHERE message_id = $1`, r.MessageID).Scan(&reason))
			assert.Contains(t, reason, tc.code, "the outbound message shows why")
		})
	}
	t.Run("insufficient balance", func(t *testing.T) {
		e := newEnv(t)
		e.channel(domain.ChannelActive)
		thread := e.thread("telegram") // balance now -200
		e.startWorker(e.manager("w1", commands.DeliveryOptions{}), deliveryworker.Options{})
		r := e.reply(thread, "hello")
		view := e.settle(r.ActionID, 20*time.Second)
		assert.Equal(t, domain.ActionFailed, view.Status)
		assert.Equal(t, domain.DeliveryInsufficientBalance, *view.ErrorCode)
		assert.Empty(t, e.bot.sent())
		assert.Equal(t, int64(-200), e.balance())
		e.ledgerInvariant()
	})
}

func TestRateLimitHonoured(t *testing.T) {
	e, thread := rateLimitedOnce(t, 1)
	e.startWorker(e.manager("w1", commands.DeliveryOptions{}), deliveryworker.Options{})
	r := e.reply(thread, "hello")
	view := e.settle(r.ActionID, 20*time.Second)
	assert.Equal(t, domain.ActionCompleted, view.Status)
	assert.Equal(t, 2, view.Attempts)
	calls := e.bot.sent()
	require.Len(t, calls, 2, "retried once")
	assert.GreaterOrEqual(t, calls[1].At.Sub(calls[0].At), time.Second, "waited retry_after")
	assert.Equal(t, int64(10_000-400), e.balance(), "charged once")
	e.ledgerInvariant()
}

func TestWorkerDiesAfterSendingBeforeRecording(t *testing.T) {
	e := newEnv(t)
	e.credit(10_000)
	e.channel(domain.ChannelActive)
	thread := e.thread("telegram")
	r := e.reply(thread, "hello")
	dying := e.manager("dying", commands.DeliveryOptions{SendTimeout: 100 * time.Millisecond, Lease: 200 * time.Millisecond, AfterSend: func(string) error {
		return fmt.Errorf("killed")
	}})
	require.Error(t, dying.Drive(context.Background(), r.ActionID, thread))
	require.Len(t, e.bot.sent(), 1)

	// Another worker takes over once the lease lapsed: it does not send again.
	time.Sleep(250 * time.Millisecond)
	e.startWorker(e.manager("rescuer", commands.DeliveryOptions{SendTimeout: 100 * time.Millisecond}),
		deliveryworker.Options{SweepEvery: 50 * time.Millisecond, StuckAfter: 10 * time.Millisecond})
	view := e.settle(r.ActionID, 20*time.Second)
	assert.Equal(t, domain.ActionFailed, view.Status)
	assert.Equal(t, domain.DeliveryOutcomeUnknown, *view.ErrorCode)
	assert.Len(t, e.bot.sent(), 1, "never sent twice")
	assert.Equal(t, int64(10_000-200), e.balance(), "refunded: never charged for a reply that may not have arrived")
	e.ledgerInvariant()
}

func TestTwoWorkersNeverDeliverOneActionTwice(t *testing.T) {
	e := newEnv(t)
	e.credit(100_000)
	e.channel(domain.ChannelActive)
	thread := e.thread("telegram")
	var actions []domain.ReplyQueued
	for i := 0; i < 20; i++ {
		actions = append(actions, e.reply(thread, fmt.Sprint("reply ", i)))
	}
	a, b := e.manager("a", commands.DeliveryOptions{}), e.manager("b", commands.DeliveryOptions{})
	var wg sync.WaitGroup
	for _, r := range actions {
		for _, m := range []*commands.DeliveryManager{a, b} {
			wg.Add(1)
			go func(m *commands.DeliveryManager, r domain.ReplyQueued) {
				defer wg.Done()
				_ = m.Drive(context.Background(), r.ActionID, thread)
			}(m, r)
		}
	}
	wg.Wait()
	perText := map[string]int{}
	for _, c := range e.bot.sent() {
		perText[c.Text]++
	}
	for i := 0; i < 20; i++ {
		assert.Equal(t, 1, perText[fmt.Sprint("reply ", i)], "reply %d sent once", i)
	}
	for _, r := range actions {
		e.settle(r.ActionID, 20*time.Second)
	}
	assert.Equal(t, int64(100_000-200-20*200), e.balance())
	e.ledgerInvariant()
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func TestStoppedWorkerReleasesItsClaim(t *testing.T) {
	e, thread := rateLimitedOnce(t, 2)
	// The first worker holds a two-minute lease and is stopped while it waits out the 429.
	stopFirst := e.startWorker(e.manager("first", commands.DeliveryOptions{Lease: 2 * time.Minute}), deliveryworker.Options{})
	r := e.reply(thread, "hello")
	require.Eventually(t, func() bool { return len(e.bot.sent()) == 1 }, 10*time.Second, 10*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	stopFirst()

	start := time.Now()
	e.startWorker(e.manager("second", commands.DeliveryOptions{}), deliveryworker.Options{SweepEvery: 50 * time.Millisecond, StuckAfter: time.Millisecond})
	view := e.settle(r.ActionID, 20*time.Second)
	assert.Equal(t, domain.ActionCompleted, view.Status)
	assert.Less(t, time.Since(start), 10*time.Second, "taken over without waiting out the lease")
	assert.Len(t, e.bot.sent(), 2)
	e.ledgerInvariant()
	types := map[string]int{}
	evs, err := e.store.ReadStream(context.Background(), domain.DeliveryStream(r.ActionID), domain.Forwards, 0, 100)
	require.NoError(t, err)
	for _, ev := range evs {
		types[ev.Type]++
	}
	assert.Equal(t, 1, types["DeliveryReleased"])
}

// rateLimitedOnce sets up a funded, bound chat whose first sendMessage gets a
// 429 asking to wait retryAfter seconds; later calls succeed.
func rateLimitedOnce(t *testing.T, retryAfter int) (*env, string) {
	e := newEnv(t)
	e.credit(10_000)
	e.channel(domain.ChannelActive)
	thread := e.thread("telegram")
	e.bot.setAnswer(func(n int, _ sendCall) (int, string) {
		if n == 0 {
			return 429, fmt.Sprintf(`{"ok":false,"error_code":429,"description":"Too Many Requests: retry after %d","parameters":{"retry_after":%d}}`, retryAfter, retryAfter)
		}
		return 200, ""
	})
	return e, thread
}

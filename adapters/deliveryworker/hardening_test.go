package deliveryworker_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/deliveryworker"
	pgstore "github.com/socialops/socialops/adapters/eventstore/postgres"
	"github.com/socialops/socialops/adapters/postgres"
	"github.com/socialops/socialops/adapters/telegram"
	"github.com/socialops/socialops/commands"
	"github.com/socialops/socialops/domain"
)

// process is a second, independent process: its own pool, event store
// client, command service, accounts and read-model lookups.
type process struct {
	svc      *commands.Service
	accounts *postgres.Accounts
	rm       deliveryworker.ReadModels
}

func (e *env) secondProcess() process {
	pool, err := postgres.Connect(context.Background(), e.pool.Config().ConnString())
	require.NoError(e.t, err)
	e.t.Cleanup(pool.Close)
	store := pgstore.New(pool, e.logger)
	e.t.Cleanup(func() { _ = store.Close() })
	return process{
		svc:      commands.NewService(store, e.registry, commands.Options{Logger: e.logger}),
		accounts: postgres.NewAccounts(pool, e.key, nil),
		rm:       deliveryworker.ReadModels{Q: pool, Head: store.HeadPosition},
	}
}

// managerWith builds a manager from chosen parts (nil parts are this env's).
func (e *env) managerWith(worker string, svc *commands.Service, accounts commands.AccountReader, rm *deliveryworker.ReadModels,
	sender commands.ReplySender, opts commands.DeliveryOptions) *commands.DeliveryManager {
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
	if svc == nil {
		svc = e.commands
	}
	if accounts == nil {
		accounts = e.accounts
	}
	if rm == nil {
		rm = &deliveryworker.ReadModels{Q: e.pool, Head: e.store.HeadPosition}
	}
	if sender == nil {
		sender = telegram.NewSender(e.bot.srv.URL, opts.SendTimeout)
	}
	return commands.NewDeliveryManager(svc, rm, accounts, rm, sender, opts)
}

func (e *env) refunds(actionID string) int {
	var n int
	require.NoError(e.t, e.pool.QueryRow(context.Background(), `SELECT count(*) FROM wallet_ledger WHERE kind = 'refund' AND action_id = $1`, actionID).Scan(&n))
	return n
}

func (e *env) charges(actionID string) int {
	var n int
	require.NoError(e.t, e.pool.QueryRow(context.Background(), `SELECT count(*) FROM wallet_ledger WHERE kind = 'charge' AND action_id = $1`, actionID).Scan(&n))
	return n
}

// Item 4: once the request may have reached Telegram, a missing or unreadable
// answer is an unknown outcome: never sent again, refunded.
func TestUnreadableAnswersAreNotSentAgain(t *testing.T) {
	cases := []struct {
		name   string
		answer func(n int, c sendCall) (int, string)
	}{
		{"200 body cut mid-read", func(n int, _ sendCall) (int, string) {
			if n == 0 {
				return 200, cutBody
			}
			return 200, ""
		}},
		{"200 with a body that is not JSON", func(n int, _ sendCall) (int, string) {
			if n == 0 {
				return 200, "<html><body>OK</body></html>"
			}
			return 200, ""
		}},
		{"answer after the timeout", func(n int, _ sendCall) (int, string) {
			if n == 0 {
				return 200, slowBody
			}
			return 200, ""
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.credit(10_000)
			e.channel(domain.ChannelActive)
			thread := e.thread(domain.ProviderTelegram)
			e.bot.setAnswer(tc.answer)
			e.startWorker(e.manager("w1", commands.DeliveryOptions{SendTimeout: 500 * time.Millisecond}),
				deliveryworker.Options{SweepEvery: 50 * time.Millisecond, StuckAfter: 10 * time.Millisecond})
			r := e.reply(thread, "hello")
			view := e.settle(r.ActionID, 20*time.Second)
			// Give the sweep a chance to (wrongly) send again.
			time.Sleep(300 * time.Millisecond)
			assert.Equal(t, 1, len(e.bot.sent()), "never sent twice")
			assert.Equal(t, domain.ActionFailed, view.Status)
			require.NotNil(t, view.ErrorCode)
			assert.Equal(t, domain.DeliveryOutcomeUnknown, *view.ErrorCode, "not a rejection, not a retry: unknown")
			assert.Equal(t, 1, e.refunds(r.ActionID), "never billed for a reply that may not have arrived")
			assert.Equal(t, int64(10_000-200), e.balance())
			e.ledgerInvariant()
		})
	}
}

// Item 4: a request that provably never left (the connection was refused) is retried.
func TestRefusedConnectionIsRetried(t *testing.T) {
	e := newEnv(t)
	e.credit(10_000)
	e.channel(domain.ChannelActive)
	thread := e.thread(domain.ProviderTelegram)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := l.Addr().String()
	require.NoError(t, l.Close())

	sender := telegram.NewSender(e.bot.srv.URL, 2*time.Second)
	var mu sync.Mutex
	dials := 0
	sender.Client.Transport = &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		dials++
		n := dials
		mu.Unlock()
		if n == 1 {
			addr = closed // the first dial is refused
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	m := e.managerWith("w1", nil, nil, nil, sender, commands.DeliveryOptions{})
	r := e.reply(thread, "hello")
	require.NoError(t, m.Drive(context.Background(), r.ActionID, thread))
	view := e.settle(r.ActionID, 20*time.Second)
	assert.Equal(t, domain.ActionCompleted, view.Status)
	assert.Equal(t, 2, view.Attempts, "the refused attempt was retried")
	assert.Equal(t, 1, len(e.bot.sent()))
	assert.Equal(t, int64(10_000-400), e.balance())
	e.ledgerInvariant()
}

// flakyLog fails the first appends that carry an event of one type, as a
// database hiccup or the store's batch timeout would; with commitLast the
// last failing one was stored although it reports an error.
type flakyLog struct {
	commands.EventLog
	eventType  string
	fails      int
	commitLast bool
	mu         sync.Mutex
	seen       int
}

func (f *flakyLog) Append(ctx context.Context, stream string, expected domain.ExpectedRevision, events ...domain.ProposedEvent) (domain.AppendResult, error) {
	for _, ev := range events {
		if ev.Type != f.eventType {
			continue
		}
		f.mu.Lock()
		f.seen++
		n := f.seen
		f.mu.Unlock()
		if n > f.fails {
			break
		}
		if n == f.fails && f.commitLast {
			if _, err := f.EventLog.Append(ctx, stream, expected, events...); err != nil {
				return domain.AppendResult{}, err
			}
		}
		return domain.AppendResult{}, errors.New("append: the batch did not commit within its timeout")
	}
	return f.EventLog.Append(ctx, stream, expected, events...)
}

// Item 5: a brief failure to record ReplyDelivered does not turn a delivered
// reply into an unknown outcome with a refund.
func TestDeliveredIsRecordedThroughABriefStoreFailure(t *testing.T) {
	e := newEnv(t)
	e.credit(10_000)
	e.channel(domain.ChannelActive)
	thread := e.thread(domain.ProviderTelegram)
	r := e.reply(thread, "hello")
	flaky := &flakyLog{EventLog: e.store, eventType: "ReplyDelivered", fails: 3, commitLast: true}
	svc := commands.NewService(flaky, e.registry, commands.Options{Logger: e.logger})
	m := e.managerWith("w1", svc, nil, nil, nil, commands.DeliveryOptions{})
	_ = m.Drive(context.Background(), r.ActionID, thread)
	// The sweep drives it again, as it would an action left processing.
	_ = m.Drive(context.Background(), r.ActionID, thread)
	view := e.settle(r.ActionID, 20*time.Second)
	assert.Equal(t, domain.ActionCompleted, view.Status)
	assert.Equal(t, 1, len(e.bot.sent()))
	assert.Equal(t, 1, e.charges(r.ActionID), "charged once")
	assert.Equal(t, 0, e.refunds(r.ActionID), "not refunded: it was delivered")
	assert.Equal(t, int64(10_000-400), e.balance())
	e.ledgerInvariant()
}

// Item 6: concurrent replies from two processes cannot spend the same money.
func TestConcurrentRepliesFromTwoProcessesCannotOverdraw(t *testing.T) {
	e := newEnv(t)
	e.credit(400)
	e.channel(domain.ChannelActive)
	thread := e.thread(domain.ProviderTelegram) // the inbound charge leaves 200: one reply
	var actions []domain.ReplyQueued
	for i := 0; i < 8; i++ {
		actions = append(actions, e.reply(thread, fmt.Sprint("reply ", i)))
	}
	// The projected balance shows the 200 before anyone drives.
	require.Eventually(t, func() bool { return e.balance() == 200 }, 10*time.Second, 10*time.Millisecond)

	p2 := e.secondProcess()
	a := e.managerWith("process-a", nil, nil, nil, nil, commands.DeliveryOptions{})
	b := e.managerWith("process-b", p2.svc, p2.accounts, &p2.rm, nil, commands.DeliveryOptions{})
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, r := range actions {
		for _, m := range []*commands.DeliveryManager{a, b} {
			wg.Add(1)
			go func(m *commands.DeliveryManager, r domain.ReplyQueued) {
				defer wg.Done()
				<-start
				_ = m.Drive(context.Background(), r.ActionID, thread)
			}(m, r)
		}
	}
	close(start)
	wg.Wait()
	// A drive that lost the lease race left its action to the other; finish any left.
	for _, r := range actions {
		require.NoError(t, a.Drive(context.Background(), r.ActionID, thread))
	}

	outcomes := map[string]int{}
	for _, r := range actions {
		v := e.settle(r.ActionID, 20*time.Second)
		code := ""
		if v.ErrorCode != nil {
			code = *v.ErrorCode
		}
		outcomes[v.Status+":"+code]++
	}
	assert.Equal(t, map[string]int{"completed:": 1, "failed:" + domain.DeliveryInsufficientBalance: 7}, outcomes)
	assert.Equal(t, 1, len(e.bot.sent()), "one reply sent")
	var replyCharges, refunds int
	require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE kind = 'charge'), count(*) FILTER (WHERE kind = 'refund')
		FROM wallet_ledger WHERE action_id IS NOT NULL`).Scan(&replyCharges, &refunds))
	assert.Equal(t, 1, replyCharges, "one reply charged")
	assert.Equal(t, 0, refunds)
	assert.Equal(t, int64(0), e.balance())
	// The balance never went below zero, entry by entry in log order.
	rows, err := e.pool.Query(context.Background(), `SELECT sum(CASE kind WHEN 'charge' THEN -amount_micro_usd ELSE amount_micro_usd END)
		OVER (ORDER BY position, entry_id) FROM wallet_ledger WHERE owner_id = $1`, e.inst.OwnerID)
	require.NoError(t, err)
	for rows.Next() {
		var running int64
		require.NoError(t, rows.Scan(&running))
		assert.GreaterOrEqual(t, running, int64(0), "balance went negative")
	}
	require.NoError(t, rows.Err())
	e.ledgerInvariant()
}

// Item 7: a charged action whose target cannot be resolved (the bot token
// does not decrypt) fails after a bounded number of drives and is refunded.
func TestUnresolvableChargedDeliveryFailsAndIsRefunded(t *testing.T) {
	e := newEnv(t)
	e.credit(10_000)
	e.channel(domain.ChannelActive)
	thread := e.thread(domain.ProviderTelegram)
	e.bot.setAnswer(func(n int, _ sendCall) (int, string) {
		return 429, `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 30","parameters":{"retry_after":30}}`
	})
	r := e.reply(thread, "hello")
	// The first drive charges, gets a 429 and stops (shutdown) while it waits.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	_ = e.manager("first", commands.DeliveryOptions{}).Drive(ctx, r.ActionID, thread)
	cancel()
	require.Equal(t, 1, len(e.bot.sent()))

	// From now on the bot token does not decrypt (the key was changed).
	otherKey := make([]byte, 32)
	_, _ = rand.Read(otherKey)
	m := e.managerWith("second", nil, postgres.NewAccounts(e.pool, otherKey, nil), nil, nil, commands.DeliveryOptions{})
	for i := 0; i < 10; i++ {
		_ = m.Drive(context.Background(), r.ActionID, thread)
	}
	view := e.settle(r.ActionID, 20*time.Second)
	assert.Equal(t, domain.ActionFailed, view.Status)
	require.NotNil(t, view.ErrorCode)
	assert.Equal(t, "delivery_unresolvable", *view.ErrorCode)
	assert.Equal(t, 1, len(e.bot.sent()))
	assert.Equal(t, 1, e.refunds(r.ActionID))
	assert.Equal(t, int64(10_000-200), e.balance())
	e.ledgerInvariant()
	var msg string
	require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT coalesce(error_message, '') FROM reply_actions WHERE action_id = $1`, r.ActionID).Scan(&msg))
	assert.NotContains(t, msg, token, "no bot token in the audit")
}

// legacyDelivery stores a delivery as recorded before reply charges moved to
// the wallet stream: claimed by a worker whose lease lapsed, charged on the
// delivery stream, and (sendStarted) a send started without an answer.
func (e *env) legacyDelivery(r domain.ReplyQueued, sendStarted bool) {
	stream := domain.DeliveryStream(r.ActionID)
	evs := []domain.Event{
		domain.DeliveryClaimed{ActionID: r.ActionID, ThreadID: r.ThreadID, MessageID: r.MessageID, InstanceID: r.InstanceID,
			OwnerID: r.OwnerID, Provider: r.Provider, Text: r.Text, Worker: "old", Claim: 1, LeaseUntil: time.Now().Add(-time.Minute).UTC()},
		domain.ChargeApplied{ChargeID: domain.ReplyChargeID(r.ActionID), OwnerID: r.OwnerID, AmountMicroUSD: 200,
			Reason: domain.ChargeReplyDelivery, ThreadID: r.ThreadID, MessageID: r.MessageID, ActionID: r.ActionID},
	}
	if sendStarted {
		evs = append(evs, domain.DeliverySendStarted{ActionID: r.ActionID, ThreadID: r.ThreadID, MessageID: r.MessageID, Attempt: 1, ChatID: e.chat})
	}
	for i, ev := range evs {
		p, err := e.registry.Encode(ev, domain.Metadata{EventID: domain.EventUUID(stream, fmt.Sprint(i)), OwnerID: r.OwnerID, OccurredAt: time.Now().UTC()})
		require.NoError(e.t, err)
		_, err = e.store.Append(context.Background(), stream, domain.ExpectedFromVersion(int64(i)-1), p)
		require.NoError(e.t, err)
	}
}

// Deliveries charged on their own stream (before wallet-stream charges) still
// settle: no second charge, and a refund on the stream of the charge.
func TestLegacyDeliveryStreamsStillSettle(t *testing.T) {
	for _, sendStarted := range []bool{false, true} {
		t.Run(fmt.Sprint("send started ", sendStarted), func(t *testing.T) {
			e := newEnv(t)
			e.credit(10_000)
			e.channel(domain.ChannelActive)
			thread := e.thread(domain.ProviderTelegram)
			r := e.reply(thread, "hello")
			e.legacyDelivery(r, sendStarted)
			require.NoError(t, e.manager("new", commands.DeliveryOptions{}).Drive(context.Background(), r.ActionID, thread))
			view := e.settle(r.ActionID, 20*time.Second)
			assert.Equal(t, 1, e.charges(r.ActionID), "charged once")
			if sendStarted {
				assert.Equal(t, domain.ActionFailed, view.Status)
				assert.Equal(t, domain.DeliveryOutcomeUnknown, *view.ErrorCode)
				assert.Empty(t, e.bot.sent())
				assert.Equal(t, 1, e.refunds(r.ActionID))
				assert.Equal(t, int64(10_000-200), e.balance())
				// The refund is on the delivery stream, beside its charge.
				evs, err := e.store.ReadStream(context.Background(), domain.DeliveryStream(r.ActionID), domain.Backwards, domain.StreamEnd, 1)
				require.NoError(t, err)
				assert.Equal(t, "RefundApplied", evs[0].Type)
			} else {
				assert.Equal(t, domain.ActionCompleted, view.Status)
				assert.Equal(t, 1, len(e.bot.sent()))
				assert.Equal(t, 0, e.refunds(r.ActionID))
				assert.Equal(t, int64(10_000-400), e.balance())
			}
			e.ledgerInvariant()
		})
	}
}

// A drive stopped after charging on the wallet and before recording it on
// the delivery: the next drive finds the charge instead of charging again.
func TestChargeOnTheWalletIsFoundAfterAStop(t *testing.T) {
	e := newEnv(t)
	e.credit(10_000)
	e.channel(domain.ChannelActive)
	thread := e.thread(domain.ProviderTelegram)
	r := e.reply(thread, "hello")
	flaky := &flakyLog{EventLog: e.store, eventType: "DeliveryCharged", fails: 1}
	svc := commands.NewService(flaky, e.registry, commands.Options{Logger: e.logger})
	m := e.managerWith("w1", svc, nil, nil, nil, commands.DeliveryOptions{})
	require.Error(t, m.Drive(context.Background(), r.ActionID, thread))
	require.NoError(t, m.Drive(context.Background(), r.ActionID, thread))
	view := e.settle(r.ActionID, 20*time.Second)
	assert.Equal(t, domain.ActionCompleted, view.Status)
	assert.Equal(t, 1, len(e.bot.sent()))
	assert.Equal(t, 1, e.charges(r.ActionID), "charged once")
	assert.Equal(t, int64(10_000-400), e.balance())
	e.ledgerInvariant()
}

// A drive stopped after refunding on the wallet and before recording the
// failure: the next drive records that failure, never sends, never refunds twice.
func TestRefundOnTheWalletIsFoundAfterAStop(t *testing.T) {
	e := newEnv(t)
	e.credit(10_000)
	e.channel(domain.ChannelActive)
	thread := e.thread(domain.ProviderTelegram)
	e.bot.setAnswer(func(n int, _ sendCall) (int, string) {
		if n == 0 {
			return 400, `{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}`
		}
		return 200, ""
	})
	r := e.reply(thread, "hello")
	flaky := &flakyLog{EventLog: e.store, eventType: "ReplyDeliveryFailed", fails: 1000}
	svc := commands.NewService(flaky, e.registry, commands.Options{Logger: e.logger})
	m := e.managerWith("w1", svc, nil, nil, nil, commands.DeliveryOptions{RecordFor: 200 * time.Millisecond})
	require.Error(t, m.Drive(context.Background(), r.ActionID, thread))
	require.NoError(t, e.manager("w1", commands.DeliveryOptions{}).Drive(context.Background(), r.ActionID, thread))
	view := e.settle(r.ActionID, 20*time.Second)
	assert.Equal(t, domain.ActionFailed, view.Status)
	assert.Equal(t, domain.DeliveryRejected, *view.ErrorCode, "the refund's reason")
	assert.Equal(t, 1, len(e.bot.sent()))
	assert.Equal(t, 1, e.refunds(r.ActionID), "refunded once")
	assert.Equal(t, int64(10_000-200), e.balance())
	e.ledgerInvariant()
}

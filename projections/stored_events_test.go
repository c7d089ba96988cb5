package projections_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	pgstore "github.com/socialops/socialops/adapters/eventstore/postgres"
	"github.com/socialops/socialops/adapters/postgres/pgtest"
	"github.com/socialops/socialops/adapters/projectionrunner"
	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

// storedLog is a Postgres event store with the projectors running on it, for
// events appended directly: what older builds, another backend or a bug may
// have stored, which the projectors must still apply.
type storedLog struct {
	t        *testing.T
	pool     *pgxpool.Pool
	store    *pgstore.Store
	registry *domain.Registry
	runner   *projectionrunner.Runner
}

func newStoredLog(t *testing.T) *storedLog {
	pool := pgtest.NewPool(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := pgstore.New(pool, logger)
	t.Cleanup(func() { _ = store.Close() })
	reg := domain.NewEventRegistry()
	r := projectionrunner.New(pool, store, reg, projectionrunner.Options{Logger: logger})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = r.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return &storedLog{t: t, pool: pool, store: store, registry: reg, runner: r}
}

// append stores events on a stream as they are, whatever a command would decide.
func (l *storedLog) append(stream string, events ...domain.Event) uint64 {
	l.t.Helper()
	proposed := make([]domain.ProposedEvent, 0, len(events))
	for _, e := range events {
		p, err := l.registry.Encode(e, domain.Metadata{
			EventID: domain.RandomUUID(domain.CryptoRandom), OwnerID: "owner-1", InstanceAlias: "support",
			Actor: domain.Actor{Kind: domain.ActorUser, ID: "alice"}, OccurredAt: time.Now().UTC(),
		})
		require.NoError(l.t, err)
		proposed = append(proposed, p)
	}
	res, err := l.store.Append(context.Background(), stream, domain.AnyRevision(), proposed...)
	require.NoError(l.t, err, "the store holds the event")
	return res.Position
}

// caughtUp waits until every projector reached pos, and fails if one halted.
func (l *storedLog) caughtUp(pos uint64) {
	l.t.Helper()
	names := []string{}
	for _, p := range projections.All() {
		names = append(names, p.Name())
	}
	fresh, err := projections.WaitForPosition(context.Background(), l.pool, names, pos, 10*time.Second)
	require.NoError(l.t, err)
	require.NoError(l.t, l.runner.Healthy(), "no projector halted")
	require.True(l.t, fresh, "every projector reached position %d", pos)
}

func opened(threadID string) domain.ThreadOpened {
	return domain.ThreadOpened{ThreadID: threadID, InstanceID: "soinst_1", OwnerID: "owner-1", InstanceAlias: "support",
		Provider: domain.ProviderGenericWebhook, ExternalThreadID: threadID, Subject: "subject", Status: domain.StatusOpen,
		Priority: domain.PriorityNormal, Labels: []string{"ops"}}
}

// Events already stored with U+0000 in their text (Postgres' event store
// keeps data as bytea, KurrentDB as bytes: both hold the JSON escape \u0000)
// are applied with the NUL dropped, and the projectors keep running.
func TestProjectorsApplyStoredTextWithNUL(t *testing.T) {
	l := newStoredLog(t)
	ctx := context.Background()
	const thread = "soth_nul"
	l.append(domain.ThreadStream(thread),
		domain.ThreadOpened{ThreadID: thread, InstanceID: "soinst_1", OwnerID: "owner-1", InstanceAlias: "support",
			Provider: domain.ProviderGenericWebhook, ExternalThreadID: "t\x00", Subject: "sub\x00ject", Status: domain.StatusOpen,
			Priority: domain.PriorityNormal, Labels: []string{"o\x00ps"}},
		domain.InboundMessageReceived{ThreadID: thread, MessageID: "somsg_in", Provider: domain.ProviderGenericWebhook,
			ProviderEventID: "e1", MessageType: domain.MessageText, Subject: "s", Text: "in\x00bound", Labels: []string{"x\x00"},
			Sender: domain.Sender{DisplayName: "mon\x00itor"}},
		domain.NoteAdded{ThreadID: thread, MessageID: "somsg_note", Text: "no\x00te", AuthorID: "ali\x00ce"},
		domain.ReplyQueued{ThreadID: thread, MessageID: "somsg_reply", ActionID: "soact_1", ActionType: domain.ActionSendReply,
			Text: "re\x00ply", AuthorID: "alice", InstanceID: "soinst_1", OwnerID: "owner-1", Provider: domain.ProviderGenericWebhook},
		domain.ThreadAssigned{ThreadID: thread, To: "o\x00ps"},
	)
	l.append(domain.ChannelStream("sochan_1"), domain.ChannelCreated{ChannelID: "sochan_1", InstanceID: "soinst_1", OwnerID: "owner-1",
		Provider: domain.ProviderTelegram, ConnectedAccountID: "conn_1", ChannelName: "Sup\x00port", ExternalChannelID: "-100",
		ParseMode: domain.ParseModeNone, Status: domain.ChannelActive})
	head := l.append(domain.WalletStream("owner-1"), domain.WalletCredited{CreditID: "socrd_1", OwnerID: "owner-1", AmountMicroUSD: 5, Note: "gi\x00ft"})

	raw, err := l.store.ReadStream(ctx, domain.ThreadStream(thread), domain.Forwards, domain.StreamStart, 10)
	require.NoError(t, err)
	env, err := l.registry.Decode(raw[2])
	require.NoError(t, err)
	require.Equal(t, "no\x00te", env.Payload.(domain.NoteAdded).Text, "the stored event keeps its NUL")

	l.caughtUp(head)
	texts := map[string]string{}
	rows, err := l.pool.Query(ctx, `SELECT message_id, text || '|' || sender_display FROM thread_messages`)
	require.NoError(t, err)
	for rows.Next() {
		var id, text string
		require.NoError(t, rows.Scan(&id, &text))
		texts[id] = text
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, map[string]string{"somsg_in": "inbound|monitor", "somsg_note": "note|alice", "somsg_reply": "reply|alice"}, texts)
	var subject, assignee, preview string
	var labels []string
	require.NoError(t, l.pool.QueryRow(ctx, `SELECT subject, assignee, last_message_preview, labels FROM inbox_threads WHERE thread_id = $1`, thread).
		Scan(&subject, &assignee, &preview, &labels))
	assert.Equal(t, []string{"subject", "ops", "reply"}, []string{subject, assignee, preview})
	assert.Equal(t, []string{"ops", "x"}, labels)
	var name, note string
	require.NoError(t, l.pool.QueryRow(ctx, `SELECT channel_name FROM channels WHERE channel_id = 'sochan_1'`).Scan(&name))
	require.NoError(t, l.pool.QueryRow(ctx, `SELECT reason FROM wallet_ledger WHERE entry_id = 'socrd_1'`).Scan(&note))
	assert.Equal(t, []string{"Support", "gift"}, []string{name, note})

	// And they go on applying what comes next.
	next := l.append(domain.ThreadStream(thread), domain.NoteAdded{ThreadID: thread, MessageID: "somsg_after", Text: "after", AuthorID: "alice"})
	l.caughtUp(next)
}

// One provider event stored on two threads (as the log of an older build may
// hold: ids derived from the event collide) is applied once: the second copy
// of the message, its charge and any other repeated id are no-ops, and the
// projectors keep running.
func TestProjectorsSurviveDuplicateIDsInTheLog(t *testing.T) {
	l := newStoredLog(t)
	ctx := context.Background()
	msgID := domain.InboundMessageID("soinst_1", domain.ProviderGenericWebhook, "evt-1")
	inbound := func(thread string) []domain.Event {
		return []domain.Event{opened(thread),
			domain.InboundMessageReceived{ThreadID: thread, MessageID: msgID, Provider: domain.ProviderGenericWebhook,
				ProviderEventID: "evt-1", MessageType: domain.MessageText, Subject: "s", Text: "text of " + thread},
			domain.ChargeApplied{ChargeID: domain.DerivedID(domain.PrefixCharge, msgID), OwnerID: "owner-1", AmountMicroUSD: 200,
				Reason: domain.ChargeInboundMessage, ThreadID: thread, MessageID: msgID}}
	}
	reply := domain.ReplyQueued{ThreadID: "soth_a", MessageID: "somsg_r", ActionID: "soact_r", ActionType: domain.ActionSendReply,
		Text: "r", AuthorID: "alice", InstanceID: "soinst_1", OwnerID: "owner-1", Provider: domain.ProviderGenericWebhook}
	channel := domain.ChannelCreated{ChannelID: "sochan_1", InstanceID: "soinst_1", OwnerID: "owner-1", Provider: domain.ProviderTelegram,
		ConnectedAccountID: "conn_1", ChannelName: "Support", ExternalChannelID: "-100", ParseMode: domain.ParseModeNone, Status: domain.ChannelActive}
	credit := domain.WalletCredited{CreditID: "socrd_1", OwnerID: "owner-1", AmountMicroUSD: 1000}

	l.append(domain.ThreadStream("soth_a"), inbound("soth_a")...)
	l.append(domain.ThreadStream("soth_b"), inbound("soth_b")...)
	l.append(domain.ThreadStream("soth_a"), reply, reply)
	l.append(domain.ChannelStream("sochan_1"), channel, channel)
	head := l.append(domain.WalletStream("owner-1"), credit, credit)
	l.caughtUp(head)

	var messages, actions, channels, entries int
	var balance int64
	require.NoError(t, l.pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM thread_messages), (SELECT count(*) FROM reply_actions), (SELECT count(*) FROM channels),
		(SELECT count(*) FROM wallet_ledger), (SELECT balance_micro_usd FROM wallet_balances WHERE owner_id = 'owner-1')`).
		Scan(&messages, &actions, &channels, &entries, &balance))
	assert.Equal(t, []int{2, 1, 1, 2}, []int{messages, actions, channels, entries}, "each id once")
	assert.Equal(t, int64(1000-200), balance, "the balance counts each ledger entry once")
	var text string
	require.NoError(t, l.pool.QueryRow(ctx, `SELECT text FROM thread_messages WHERE message_id = $1`, msgID).Scan(&text))
	assert.Equal(t, "text of soth_a", text, "the first copy in the log wins")

	next := l.append(domain.ThreadStream("soth_b"), domain.NoteAdded{ThreadID: "soth_b", MessageID: "somsg_after", Text: "after", AuthorID: "alice"})
	l.caughtUp(next)
}

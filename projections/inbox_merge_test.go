package projections_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/postgres/pgtest"
	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

// recorded encodes events as the log holds them, at positions from first on.
func recorded(t testing.TB, reg *domain.Registry, first uint64, at time.Time, events ...domain.Event) []domain.RecordedEvent {
	t.Helper()
	var out []domain.RecordedEvent
	for i, e := range events {
		p, err := reg.Encode(e, domain.Metadata{EventID: domain.RandomUUID(domain.CryptoRandom), OccurredAt: at.Add(time.Duration(i) * time.Second)})
		require.NoError(t, err)
		out = append(out, domain.RecordedEvent{StreamID: "thread-x", Revision: uint64(i), Position: first + uint64(i),
			ID: p.ID, Type: p.Type, Data: p.Data, Metadata: p.Metadata, Created: at})
	}
	return out
}

// A new conversation's first webhook (ThreadOpened, its session's first
// state, then its first message) is one write of its inbox row when all are
// in one batch, and the row is the one one batch per event (an insert, then
// updates) leaves: with or without a session event, a bot's or a queue's,
// and when the thread was already there.
func TestInboxWritesANewThreadsRowOnce(t *testing.T) {
	ctx := context.Background()
	reg := domain.NewEventRegistry()
	at := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	opened := domain.ThreadOpened{ThreadID: "t-merge", InstanceID: "i-1", OwnerID: "o-1", Provider: "telegram",
		Subject: "", Status: "open", Priority: "normal", Labels: []string{"support", "vip", "support"}}
	queued := domain.SessionQueued{ThreadID: "t-merge", InstanceID: "i-1", Reason: domain.SessionReasonOpened}
	bot := domain.SessionBotHandling{ThreadID: "t-merge", InstanceID: "i-1", BotID: "b-1", Reason: domain.SessionReasonOpened}
	msg := domain.InboundMessageReceived{ThreadID: "t-merge", Provider: "telegram", Subject: "Where is my parcel?",
		Labels: []string{"vip", "shipping"}, Text: "Hello, my parcel has not arrived."}
	again := opened
	again.Subject = "Opened twice"
	assign := domain.SessionAssigned{ThreadID: "t-merge", InstanceID: "i-1", OperatorID: 7}

	row := func(pool pgxQuerier, t *testing.T) map[string]any {
		var r map[string]any
		require.NoError(t, pool.QueryRow(ctx, `SELECT to_jsonb(t) - 'thread_id' FROM inbox_threads t`).Scan(&r))
		return r
	}
	for _, tc := range []struct {
		name    string
		history []domain.Event
		state   string
	}{
		{"queued", []domain.Event{opened, queued, msg}, domain.StatePending},
		{"with a bot", []domain.Event{opened, bot, msg}, domain.StateAI},
		{"no session event", []domain.Event{opened, msg}, domain.StatePending},
		{"thread opened twice", []domain.Event{opened, assign, again, queued, msg}, domain.StatePending},
		{"opened twice, no session event", []domain.Event{opened, assign, again, msg}, domain.StateManual},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs := recorded(t, reg, 1, at, tc.history...)
			merged, single, batched := pgtest.NewPool(t), pgtest.NewPool(t), pgtest.NewPool(t)
			require.Positive(t, applyMerging(t, merged, reg, projections.InboxProjector{}, evs), "merged")
			_, err := projections.ApplyBatch(ctx, batched, reg, projections.InboxProjector{}, evs, "", projections.Hooks{})
			require.NoError(t, err)
			for _, ev := range evs {
				_, err := projections.ApplyBatch(ctx, single, reg, projections.InboxProjector{}, []domain.RecordedEvent{ev}, "", projections.Hooks{})
				require.NoError(t, err)
			}
			got := row(merged, t)
			assert.Equal(t, row(single, t), got)
			assert.Equal(t, got, row(batched, t))
			assert.Equal(t, float64(evs[len(evs)-1].Position), got["last_position"])
			assert.Equal(t, tc.state, got["session_state"])
		})
	}

	// Written once: the row is still the first tuple of the table's first
	// page (an update would have written a second one).
	pool := pgtest.NewPool(t)
	_, err := projections.ApplyBatch(ctx, pool, reg, projections.InboxProjector{}, recorded(t, reg, 1, at, opened, queued, msg), "", projections.Hooks{})
	require.NoError(t, err)
	var ctid string
	require.NoError(t, pool.QueryRow(ctx, `SELECT ctid::text FROM inbox_threads`).Scan(&ctid))
	assert.Equal(t, "(0,1)", ctid)

	// Merge queues one statement for the run at the head, and says how long
	// it is; nothing for a run that does not start a thread with a message.
	evs := recorded(t, reg, 1, at, opened, queued, msg, opened)
	envs := make([]domain.Envelope, len(evs))
	for i, raw := range evs {
		envs[i], err = reg.Decode(raw)
		require.NoError(t, err)
	}
	for _, tc := range []struct {
		envs []domain.Envelope
		want int
	}{
		{envs, 3}, {[]domain.Envelope{envs[0], envs[2]}, 2}, {envs[1:], 0}, {envs[:2], 0}, {envs[3:], 0},
	} {
		b := &pgx.Batch{}
		n, err := projections.InboxProjector{}.Merge(b, tc.envs)
		require.NoError(t, err)
		assert.Equal(t, tc.want, n)
		assert.Equal(t, min(n, 1), b.Len())
	}
}

// applyMerging applies evs to p's tables as a batch would, every run Merge
// takes executed on its own: a merged statement that fails fails the test.
// (ApplyBatch would hide it: its event-by-event pass applies the same
// events again without merging.) The other events go one per batch.
func applyMerging(t *testing.T, pool *pgxpool.Pool, reg *domain.Registry, p projections.Projector, evs []domain.RecordedEvent) (merges int) {
	t.Helper()
	ctx := context.Background()
	var handled []domain.RecordedEvent
	var envs []domain.Envelope
	for _, raw := range evs {
		if p.Handles(raw.Type) {
			env, err := reg.Decode(raw)
			require.NoError(t, err)
			handled, envs = append(handled, raw), append(envs, env)
		}
	}
	for i := 0; i < len(envs); i++ {
		b := &pgx.Batch{}
		n, err := p.(projections.Merger).Merge(b, envs[i:])
		require.NoError(t, err)
		if n == 0 {
			_, err := projections.ApplyBatch(ctx, pool, reg, p, handled[i:i+1], "", projections.Hooks{})
			require.NoError(t, err)
			continue
		}
		require.NoError(t, pool.SendBatch(ctx, b).Close(), "the merged statement of events %d..%d", i, i+n-1)
		merges++
		i += n - 1
	}
	return merges
}

type pgxQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// brokenMerge merges like the inbox but queues a statement that fails.
type brokenMerge struct{ projections.InboxProjector }

func (brokenMerge) Merge(b *pgx.Batch, events []domain.Envelope) (int, error) {
	if len(events) < 2 {
		return 0, nil
	}
	b.Queue(`SELECT 1 / 0`)
	return 2, nil
}

// A merged statement that fails costs its batch the event-by-event pass,
// which applies every event and merges nothing, and the result says why
// (the runner logs it): the rows are right, the fault is visible.
func TestAFailingMergeFallsBackAndSaysSo(t *testing.T) {
	ctx := context.Background()
	reg := domain.NewEventRegistry()
	at := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	evs := recorded(t, reg, 1, at,
		domain.ThreadOpened{ThreadID: "t-b", InstanceID: "i-1", OwnerID: "o-1", Provider: "telegram", Status: "open", Priority: "normal"},
		domain.InboundMessageReceived{ThreadID: "t-b", Provider: "telegram", Text: "hi"})
	broken, single := pgtest.NewPool(t), pgtest.NewPool(t)
	res, err := projections.ApplyBatch(ctx, broken, reg, brokenMerge{}, evs, "", projections.Hooks{})
	require.NoError(t, err)
	assert.Empty(t, res.Parked)
	require.Error(t, res.BatchFailure)
	assert.Contains(t, res.BatchFailure.Error(), "division by zero")
	for _, ev := range evs {
		res, err := projections.ApplyBatch(ctx, single, reg, projections.InboxProjector{}, []domain.RecordedEvent{ev}, "", projections.Hooks{})
		require.NoError(t, err)
		assert.NoError(t, res.BatchFailure)
	}
	var a, b string
	require.NoError(t, broken.QueryRow(ctx, `SELECT to_jsonb(t)::text FROM inbox_threads t`).Scan(&a))
	require.NoError(t, single.QueryRow(ctx, `SELECT to_jsonb(t)::text FROM inbox_threads t`).Scan(&b))
	assert.JSONEq(t, b, a)
}

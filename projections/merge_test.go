package projections_test

// Merged first webhooks (projections.Merger): each merging projector leaves
// exactly the rows one event per batch would, over histories that include a
// thread opened twice, and writes a new conversation's row once.

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

// recorded encodes events as the log holds them, at positions from first
// on, each a second after the one before.
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

type pgxQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// tablesOf is every row of p's tables, as JSON, table by table.
func tablesOf(t *testing.T, pool pgxQuerier, p projections.Projector) map[string]any {
	t.Helper()
	out := map[string]any{}
	for _, table := range p.Tables() {
		var rows any
		require.NoError(t, pool.QueryRow(context.Background(),
			`SELECT coalesce(jsonb_agg(to_jsonb(r) ORDER BY to_jsonb(r)::text), '[]') FROM `+table+` r`).Scan(&rows))
		out[table] = rows
	}
	return out
}

// applyMerging applies evs to p's tables as a batch would, every run Merge
// takes executed on its own: a merged statement that fails fails the test.
// (ApplyBatch would hide it: its event-by-event pass applies the same
// events again without merging.) The other events go one per batch; a
// flush, if p has one, ends it. It says how many runs merged.
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
	if f, ok := p.(projections.Flusher); ok {
		b := &pgx.Batch{}
		f.Flush(b)
		require.NoError(t, pool.SendBatch(ctx, b).Close())
	}
	return merges
}

// mergeCase is a history and how many runs of it p merges.
type mergeCase struct {
	name    string
	history []domain.Event
	merges  int
}

// checkMerges applies each history three ways, each into a database of its
// own: merging (applyMerging), as one batch (ApplyBatch, as the runner
// does) and one event per batch (never merged). All of p's tables must end
// the same.
func checkMerges(t *testing.T, p projections.Projector, cases []mergeCase) {
	ctx := context.Background()
	reg := domain.NewEventRegistry()
	at := time.Date(2026, 12, 4, 9, 59, 30, 0, time.UTC) // the later events fall in the next hour
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			evs := recorded(t, reg, 1, at, tc.history...)
			merged, batched, single := pgtest.NewPool(t), pgtest.NewPool(t), pgtest.NewPool(t)
			assert.Equal(t, tc.merges, applyMerging(t, merged, reg, p, evs), "runs merged")
			_, err := projections.ApplyBatch(ctx, batched, reg, p, evs, "", projections.Hooks{})
			require.NoError(t, err)
			for _, ev := range evs {
				_, err := projections.ApplyBatch(ctx, single, reg, p, []domain.RecordedEvent{ev}, "", projections.Hooks{})
				require.NoError(t, err)
			}
			want := tablesOf(t, single, p)
			assert.Equal(t, want, tablesOf(t, merged, p), "merging")
			assert.Equal(t, want, tablesOf(t, batched, p), "one batch")
		})
	}
}

// writtenOnce checks that applying history as one batch leaves table's only
// row as the first tuple of its first page: written once, never updated.
func writtenOnce(t *testing.T, p projections.Projector, table string, history ...domain.Event) {
	t.Helper()
	ctx := context.Background()
	reg := domain.NewEventRegistry()
	pool := pgtest.NewPool(t)
	_, err := projections.ApplyBatch(ctx, pool, reg, p, recorded(t, reg, 1, time.Now().UTC(), history...), "", projections.Hooks{})
	require.NoError(t, err)
	var ctid string
	require.NoError(t, pool.QueryRow(ctx, `SELECT ctid::text FROM `+table).Scan(&ctid))
	assert.Equal(t, "(0,1)", ctid, "%s: one tuple, no update after the insert", table)
}

// The events of the tests: a conversation's first webhook, and others.
var (
	firstOpened = domain.ThreadOpened{ThreadID: "t-1", InstanceID: "i-1", OwnerID: "o-1", Provider: "telegram", ContactID: "c-1",
		Subject: "", Status: "open", Priority: "normal", Labels: []string{"support", "vip", "support"}}
	firstQueued  = domain.SessionQueued{ThreadID: "t-1", InstanceID: "i-1", Reason: domain.SessionReasonOpened}
	firstBot     = domain.SessionBotHandling{ThreadID: "t-1", InstanceID: "i-1", BotID: "b-1", Reason: domain.SessionReasonOpened}
	firstMessage = domain.InboundMessageReceived{ThreadID: "t-1", Provider: "telegram", ContactID: "c-1", Subject: "Where is my parcel?",
		Labels: []string{"vip", "shipping"}, Text: "Hello, my parcel has not arrived.", Sender: domain.Sender{ExternalID: "u-1", DisplayName: "Wei"}}
	firstAssigned = domain.SessionAssigned{ThreadID: "t-1", InstanceID: "i-1", OperatorID: 7}
)

// with returns a copy of e changed by f.
func with[E any](e E, f func(*E)) E {
	f(&e)
	return e
}

// The inbox writes a new conversation's row once for its opening, its
// session's first state (a queue's or a bot's) and its first message.
func TestInboxWritesANewThreadsRowOnce(t *testing.T) {
	p := projections.InboxProjector{}
	again := with(firstOpened, func(e *domain.ThreadOpened) { e.Subject = "Opened twice" })
	checkMerges(t, p, []mergeCase{
		{"queued", []domain.Event{firstOpened, firstQueued, firstMessage}, 1},
		{"with a bot", []domain.Event{firstOpened, firstBot, firstMessage}, 1},
		{"no session event", []domain.Event{firstOpened, firstMessage}, 1},
		{"thread opened twice", []domain.Event{firstOpened, firstAssigned, again, firstQueued, firstMessage}, 1},
		{"opened twice, no session event", []domain.Event{firstOpened, firstAssigned, again, firstMessage}, 1},
	})
	writtenOnce(t, p, "inbox_threads", firstOpened, firstQueued, firstMessage)

	// Merge says how long the run at the head is; nothing for a run that
	// does not start a thread with its first message.
	reg := domain.NewEventRegistry()
	var envs []domain.Envelope
	for _, raw := range recorded(t, reg, 1, time.Now(), firstOpened, firstQueued, firstMessage, firstOpened) {
		env, err := reg.Decode(raw)
		require.NoError(t, err)
		envs = append(envs, env)
	}
	for _, tc := range []struct {
		envs []domain.Envelope
		want int
	}{
		{envs, 3}, {[]domain.Envelope{envs[0], envs[2]}, 2}, {envs[1:], 0}, {envs[:2], 0}, {envs[3:], 0},
	} {
		b := &pgx.Batch{}
		n, err := p.Merge(b, tc.envs)
		require.NoError(t, err)
		assert.Equal(t, tc.want, n)
		assert.Equal(t, min(n, 1), b.Len())
	}
}

// The sessions projector writes a new conversation's session row once, with
// its contact's upsert in the same statement.
func TestSessionsWriteANewThreadsRowOnce(t *testing.T) {
	anon := with(firstMessage, func(e *domain.InboundMessageReceived) { e.ContactID, e.Sender = "", domain.Sender{} })
	checkMerges(t, projections.SessionsProjector{}, []mergeCase{
		{"queued", []domain.Event{firstOpened, firstQueued, firstMessage}, 1},
		{"with a bot", []domain.Event{firstOpened, firstBot, firstMessage}, 1},
		{"no session event", []domain.Event{firstOpened, firstMessage}, 1},
		{"no contact", []domain.Event{firstOpened, firstQueued, anon}, 1},
		{"opened twice, queued", []domain.Event{firstOpened, firstAssigned, firstOpened, firstQueued, firstMessage}, 1},
		{"opened twice, a bot", []domain.Event{firstOpened, firstAssigned, firstOpened, firstBot, firstMessage}, 1},
		{"opened twice, no session event", []domain.Event{firstOpened, firstAssigned, firstOpened, firstMessage}, 1},
	})
	writtenOnce(t, projections.SessionsProjector{}, "sessions", firstOpened, firstQueued, firstMessage)
}

// The CRM writes a new conversation's link, profile and identity in one
// statement, the profile once: also for a contact merged into another, a
// profile there before, and not for a message naming another contact.
func TestCRMWritesANewThreadsProfileOnce(t *testing.T) {
	unnamed := with(firstMessage, func(e *domain.InboundMessageReceived) { e.Sender.DisplayName = "" })
	noExternal := with(firstMessage, func(e *domain.InboundMessageReceived) { e.Sender.ExternalID = "" })
	other := with(firstMessage, func(e *domain.InboundMessageReceived) { e.ContactID = "c-9" })
	earlier := with(firstOpened, func(e *domain.ThreadOpened) { e.ThreadID = "t-0" })
	earlierMsg := with(firstMessage, func(e *domain.InboundMessageReceived) {
		e.ThreadID, e.Sender = "t-0", domain.Sender{ExternalID: "u-0", DisplayName: "Old"}
	})
	merged := domain.ContactsMerged{InstanceID: "i-1", Into: "c-2", From: "c-1", UnmergeUntil: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}
	into := with(firstOpened, func(e *domain.ThreadOpened) { e.ThreadID, e.Provider, e.ContactID = "t-2", "wecom", "c-2" })
	checkMerges(t, projections.CRMProjector{}, []mergeCase{
		{"new contact", []domain.Event{firstOpened, firstMessage}, 1},
		{"session event between", []domain.Event{firstOpened, firstQueued, firstMessage}, 1},
		{"no display name", []domain.Event{firstOpened, unnamed}, 1},
		{"no external id", []domain.Event{firstOpened, noExternal}, 1},
		{"another contact", []domain.Event{firstOpened, other}, 0},
		{"profile there before", []domain.Event{earlier, earlierMsg, firstOpened, unnamed}, 2},
		{"contact merged", []domain.Event{into, earlier, merged, firstOpened, firstMessage}, 1},
		{"thread opened twice", []domain.Event{firstOpened, firstMessage, firstOpened, unnamed}, 2},
	})
	writtenOnce(t, projections.CRMProjector{}, "contact_profiles", firstOpened, firstQueued, firstMessage)
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

// A batch with nothing for a projector (no type it handles, none unknown)
// only moves its checkpoint, forward only, in one statement; a batch with
// an unknown type still takes the full path and parks it.
func TestABatchWithNothingToDoOnlyMovesTheCheckpoint(t *testing.T) {
	ctx := context.Background()
	reg := domain.NewEventRegistry()
	pool := pgtest.NewPool(t)
	p := projections.InboxProjector{}
	charge := domain.ChargeApplied{ChargeID: "ch-1", OwnerID: "o-1", AmountMicroUSD: 1, Reason: domain.ChargeInboundMessage}
	checkpoint := func() uint64 {
		cp, err := projections.Checkpoint(ctx, pool, p.Name())
		require.NoError(t, err)
		return cp
	}

	// No checkpoint row yet: the full path makes it.
	res, err := projections.ApplyBatch(ctx, pool, reg, p, recorded(t, reg, 1, time.Now(), charge, charge), "", projections.Hooks{})
	require.NoError(t, err)
	assert.Equal(t, uint64(2), res.Position)
	assert.Equal(t, uint64(2), checkpoint())

	// Past it: moved.
	res, err = projections.ApplyBatch(ctx, pool, reg, p, recorded(t, reg, 3, time.Now(), charge, charge, charge), "", projections.Hooks{})
	require.NoError(t, err)
	assert.Equal(t, uint64(5), res.Position)
	assert.Equal(t, uint64(5), checkpoint())

	// Redelivered: never back.
	res, err = projections.ApplyBatch(ctx, pool, reg, p, recorded(t, reg, 2, time.Now(), charge, charge), "", projections.Hooks{})
	require.NoError(t, err)
	assert.Equal(t, uint64(5), res.Position)
	assert.Equal(t, uint64(5), checkpoint())

	// An unknown type among them: parked, as by every projector.
	evs := recorded(t, reg, 6, time.Now(), charge, charge)
	evs[1].Type = "SomethingNewer"
	res, err = projections.ApplyBatch(ctx, pool, reg, p, evs, "", projections.Hooks{})
	require.NoError(t, err)
	assert.Equal(t, uint64(7), res.Position)
	require.Len(t, res.Parked, 1)
	assert.Equal(t, uint64(7), res.Parked[0].Position)
	assert.Equal(t, uint64(7), checkpoint())
}

package projections_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/postgres/pgtest"
	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

// The sessions projector writes a new conversation's session row once, with
// its contact, when its first webhook's events are in one batch: the rows
// are the ones one batch per event leaves, for a queued session, a bot's, no
// session event and a thread opened twice.
func TestSessionsWriteANewThreadsRowOnce(t *testing.T) {
	ctx := context.Background()
	reg := domain.NewEventRegistry()
	at := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	opened := domain.ThreadOpened{ThreadID: "t-s", InstanceID: "i-1", OwnerID: "o-1", Provider: "telegram", ContactID: "c-1",
		Status: "open", Priority: "normal"}
	queued := domain.SessionQueued{ThreadID: "t-s", InstanceID: "i-1", Reason: domain.SessionReasonOpened}
	bot := domain.SessionBotHandling{ThreadID: "t-s", InstanceID: "i-1", BotID: "b-1", Reason: domain.SessionReasonOpened}
	msg := domain.InboundMessageReceived{ThreadID: "t-s", Provider: "telegram", ContactID: "c-1", Text: "hi",
		Sender: domain.Sender{ExternalID: "u-1", DisplayName: "Wei"}}
	anon := msg
	anon.ContactID, anon.Sender = "", domain.Sender{}
	assign := domain.SessionAssigned{ThreadID: "t-s", InstanceID: "i-1", OperatorID: 7}
	again := opened

	rows := func(pool pgxQuerier, t *testing.T) []any {
		var s, c any
		require.NoError(t, pool.QueryRow(ctx, `SELECT (SELECT to_jsonb(s) FROM sessions s), (SELECT jsonb_agg(c) FROM contacts c)`).Scan(&s, &c))
		return []any{s, c}
	}
	for _, tc := range []struct {
		name    string
		history []domain.Event
	}{
		{"queued", []domain.Event{opened, queued, msg}},
		{"with a bot", []domain.Event{opened, bot, msg}},
		{"no session event", []domain.Event{opened, msg}},
		{"no contact", []domain.Event{opened, queued, anon}},
		{"opened twice, queued", []domain.Event{opened, assign, again, queued, msg}},
		{"opened twice, a bot", []domain.Event{opened, assign, again, bot, msg}},
		{"opened twice, no session event", []domain.Event{opened, assign, again, msg}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs := recorded(t, reg, 1, at, tc.history...)
			merged, single, batched := pgtest.NewPool(t), pgtest.NewPool(t), pgtest.NewPool(t)
			require.Positive(t, applyMerging(t, merged, reg, projections.SessionsProjector{}, evs), "merged")
			_, err := projections.ApplyBatch(ctx, batched, reg, projections.SessionsProjector{}, evs, "", projections.Hooks{})
			require.NoError(t, err)
			for _, ev := range evs {
				_, err := projections.ApplyBatch(ctx, single, reg, projections.SessionsProjector{}, []domain.RecordedEvent{ev}, "", projections.Hooks{})
				require.NoError(t, err)
			}
			assert.Equal(t, rows(single, t), rows(merged, t))
			assert.Equal(t, rows(single, t), rows(batched, t))
		})
	}

	pool := pgtest.NewPool(t)
	_, err := projections.ApplyBatch(ctx, pool, reg, projections.SessionsProjector{}, recorded(t, reg, 1, at, opened, queued, msg), "", projections.Hooks{})
	require.NoError(t, err)
	var ctid string
	require.NoError(t, pool.QueryRow(ctx, `SELECT ctid::text FROM sessions`).Scan(&ctid))
	assert.Equal(t, "(0,1)", ctid, "one tuple: no update after the insert")
}

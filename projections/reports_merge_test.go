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

// The reports apply a new conversation's first webhook with one call
// (report_on_first): every report table ends as one event per batch leaves
// it, for a queued session, a bot's, no session event, a category from the
// message's labels, a thread seen before and an instance with a time zone.
func TestReportsApplyAFirstWebhookInOneCall(t *testing.T) {
	ctx := context.Background()
	reg := domain.NewEventRegistry()
	at := time.Date(2026, 12, 4, 9, 59, 30, 0, time.UTC) // the message falls in the next hour
	opened := domain.ThreadOpened{ThreadID: "t-r", InstanceID: "i-1", OwnerID: "o-1", Provider: "telegram", ContactID: "c-1",
		Status: "open", Priority: "normal", Labels: []string{"billing"}}
	unlabelled := opened
	unlabelled.Labels = nil
	queued := domain.SessionQueued{ThreadID: "t-r", InstanceID: "i-1", Reason: domain.SessionReasonOpened}
	bot := domain.SessionBotHandling{ThreadID: "t-r", InstanceID: "i-1", BotID: "b-1", Reason: domain.SessionReasonOpened}
	msg := domain.InboundMessageReceived{ThreadID: "t-r", Provider: "telegram", ContactID: "c-1", Text: "hi", Labels: []string{"refund"}}
	plain := msg
	plain.Labels = nil
	assign := domain.SessionAssigned{ThreadID: "t-r", InstanceID: "i-1", OperatorID: 7}
	zone := domain.ReportSettingsChanged{InstanceID: "i-1", TimeZone: "Asia/Shanghai"}

	for _, tc := range []struct {
		name    string
		history []domain.Event
		merges  int
	}{
		{"queued", []domain.Event{opened, queued, msg}, 1},
		{"with a bot", []domain.Event{opened, bot, msg}, 1},
		{"no session event", []domain.Event{opened, plain}, 1},
		{"category from the message", []domain.Event{unlabelled, queued, msg}, 1},
		{"no category", []domain.Event{unlabelled, queued, plain}, 1},
		{"thread seen before", []domain.Event{opened, assign, opened, queued, msg}, 1},
		{"time zone", []domain.Event{zone, opened, queued, msg}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs := recorded(t, reg, 1, at, tc.history...)
			merged, single, batched := pgtest.NewPool(t), pgtest.NewPool(t), pgtest.NewPool(t)
			assert.Equal(t, tc.merges, applyMerging(t, merged, reg, projections.ReportsProjector{}, evs), "runs merged")
			_, err := projections.ApplyBatch(ctx, batched, reg, projections.ReportsProjector{}, evs, "", projections.Hooks{})
			require.NoError(t, err)
			for _, ev := range evs {
				_, err := projections.ApplyBatch(ctx, single, reg, projections.ReportsProjector{}, []domain.RecordedEvent{ev}, "", projections.Hooks{})
				require.NoError(t, err)
			}
			// The merged run's sums are still staged: flush them as its
			// batch would.
			_, err = merged.Exec(ctx, `SELECT report_flush()`)
			require.NoError(t, err)
			want := tablesOf(t, single, projections.ReportsProjector{})
			assert.Equal(t, want, tablesOf(t, merged, projections.ReportsProjector{}))
			assert.Equal(t, want, tablesOf(t, batched, projections.ReportsProjector{}))
			assert.NotEqual(t, "[]", want["report_hourly"], "something was counted")
		})
	}
}

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

// The CRM projector writes a new conversation's link, profile and identity
// in one statement when its opening and first message are in one batch:
// the rows are the ones one batch per event leaves, also for a contact
// merged into another, a profile or thread already there, a sender without
// an external id and a message naming another contact.
func TestCRMWritesANewThreadsProfileOnce(t *testing.T) {
	ctx := context.Background()
	reg := domain.NewEventRegistry()
	at := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	opened := domain.ThreadOpened{ThreadID: "t-c", InstanceID: "i-1", OwnerID: "o-1", Provider: "telegram", ContactID: "c-1",
		Status: "open", Priority: "normal"}
	msg := domain.InboundMessageReceived{ThreadID: "t-c", Provider: "telegram", ContactID: "c-1", Text: "hi",
		Sender: domain.Sender{ExternalID: "u-1", DisplayName: "Wei"}}
	unnamed := msg
	unnamed.Sender = domain.Sender{ExternalID: "u-1"}
	noExternal := msg
	noExternal.Sender = domain.Sender{DisplayName: "Wei"}
	other := msg
	other.ContactID = "c-9"
	queued := domain.SessionQueued{ThreadID: "t-c", InstanceID: "i-1"}
	earlier := domain.ThreadOpened{ThreadID: "t-0", InstanceID: "i-1", Provider: "telegram", ContactID: "c-1", Status: "open", Priority: "normal"}
	earlierMsg := domain.InboundMessageReceived{ThreadID: "t-0", Provider: "telegram", ContactID: "c-1", Sender: domain.Sender{ExternalID: "u-0", DisplayName: "Old"}}
	merged := domain.ContactsMerged{InstanceID: "i-1", Into: "c-2", From: "c-1", UnmergeUntil: at.Add(time.Hour)}
	into := domain.ThreadOpened{ThreadID: "t-2", InstanceID: "i-1", Provider: "wecom", ContactID: "c-2", Status: "open", Priority: "normal"}

	rows := func(pool pgxQuerier, t *testing.T) []any {
		var a, b, c any
		require.NoError(t, pool.QueryRow(ctx, `SELECT (SELECT jsonb_agg(t ORDER BY thread_id) FROM crm_threads t),
			(SELECT jsonb_agg(p ORDER BY contact_id) FROM contact_profiles p), (SELECT jsonb_agg(i ORDER BY external_id) FROM contact_identities i)`).Scan(&a, &b, &c))
		return []any{a, b, c}
	}
	for _, tc := range []struct {
		name    string
		history []domain.Event
		merges  int
	}{
		{"new contact", []domain.Event{opened, msg}, 1},
		{"session event between", []domain.Event{opened, queued, msg}, 1},
		{"no display name", []domain.Event{opened, unnamed}, 1},
		{"no external id", []domain.Event{opened, noExternal}, 1},
		{"another contact", []domain.Event{opened, other}, 0},
		{"profile there before", []domain.Event{earlier, earlierMsg, opened, unnamed}, 2},
		{"contact merged", []domain.Event{into, earlier, merged, opened, msg}, 1},
		{"thread opened twice", []domain.Event{opened, msg, opened, unnamed}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs := recorded(t, reg, 1, at, tc.history...)
			merged, single, batched := pgtest.NewPool(t), pgtest.NewPool(t), pgtest.NewPool(t)
			assert.Equal(t, tc.merges, applyMerging(t, merged, reg, projections.CRMProjector{}, evs), "runs merged")
			_, err := projections.ApplyBatch(ctx, batched, reg, projections.CRMProjector{}, evs, "", projections.Hooks{})
			require.NoError(t, err)
			for _, ev := range evs {
				_, err := projections.ApplyBatch(ctx, single, reg, projections.CRMProjector{}, []domain.RecordedEvent{ev}, "", projections.Hooks{})
				require.NoError(t, err)
			}
			assert.Equal(t, rows(single, t), rows(merged, t))
			assert.Equal(t, rows(single, t), rows(batched, t))
		})
	}

	pool := pgtest.NewPool(t)
	_, err := projections.ApplyBatch(ctx, pool, reg, projections.CRMProjector{}, recorded(t, reg, 1, at, opened, queued, msg), "", projections.Hooks{})
	require.NoError(t, err)
	var ctid string
	require.NoError(t, pool.QueryRow(ctx, `SELECT ctid::text FROM contact_profiles`).Scan(&ctid))
	assert.Equal(t, "(0,1)", ctid, "one tuple: no update after the insert")
}

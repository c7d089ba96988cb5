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

// A contact's messages move its profile's time (newest first) by a minute
// or more, or not at all: messages seconds apart leave the row as it was
// (no new tuple: its indexes, two of them GIN, are not written again); a
// message that renames the contact writes at once; a change to the profile
// sets its time exactly. Event by event and in one batch alike.
func TestCRMMovesAContactsTimeByTheMinute(t *testing.T) {
	reg := domain.NewEventRegistry()
	t0 := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	message := func(thread, name string) domain.Event {
		return with(firstMessage, func(e *domain.InboundMessageReceived) { e.ThreadID, e.Sender.DisplayName = thread, name })
	}
	steps := []struct {
		at   time.Duration
		ev   domain.Event
		time time.Duration // the profile's time after the event
		name string
		kept bool // the row is the tuple it was
	}{
		{0, firstOpened, 0, "", false},
		{time.Second, message("t-1", "Wei"), time.Second, "Wei", false},
		{20 * time.Second, message("t-1", "Wei"), time.Second, "Wei", true},
		{40 * time.Second, message("t-1", ""), time.Second, "Wei", true},
		{61 * time.Second, message("t-1", "Wei"), 61 * time.Second, "Wei", false},
		{70 * time.Second, message("t-1", "Wei Li"), 70 * time.Second, "Wei Li", false},
		{75 * time.Second, with(firstOpened, func(e *domain.ThreadOpened) { e.ThreadID = "t-2" }), 70 * time.Second, "Wei Li", true},
		{80 * time.Second, message("t-2", "Wei Li"), 70 * time.Second, "Wei Li", true},
		{90 * time.Second, domain.ContactProfileChanged{InstanceID: "i-1", ContactID: "c-1", Changes: domain.Profile{Level: ptr("gold")}},
			90 * time.Second, "Wei Li", false},
	}
	var all []domain.RecordedEvent
	for i, s := range steps {
		all = append(all, recorded(t, reg, uint64(i+1), t0.Add(s.at), s.ev)...)
	}
	ctx := context.Background()
	profile := func(pool pgxQuerier) (updated time.Time, name, ctid string) {
		require.NoError(t, pool.QueryRow(ctx, `SELECT updated_at, display_name, ctid::text FROM contact_profiles WHERE contact_id = 'c-1'`).
			Scan(&updated, &name, &ctid))
		return updated.UTC(), name, ctid
	}

	single := pgtest.NewPool(t)
	var ctid string
	for i, s := range steps {
		_, err := projections.ApplyBatch(ctx, single, reg, projections.CRMProjector{}, all[i:i+1], "", projections.Hooks{})
		require.NoError(t, err)
		updated, name, now := profile(single)
		assert.Equal(t, t0.Add(s.time), updated, "step %d: the profile's time", i)
		assert.Equal(t, s.name, name, "step %d", i)
		if s.kept {
			assert.Equal(t, ctid, now, "step %d: not written", i)
		} else if i > 0 {
			assert.NotEqual(t, ctid, now, "step %d: written", i)
		}
		ctid = now
	}

	batched := pgtest.NewPool(t)
	_, err := projections.ApplyBatch(ctx, batched, reg, projections.CRMProjector{}, all, "", projections.Hooks{})
	require.NoError(t, err)
	assert.Equal(t, tablesOf(t, single, projections.CRMProjector{}), tablesOf(t, batched, projections.CRMProjector{}))
}

func ptr[T any](v T) *T { return &v }

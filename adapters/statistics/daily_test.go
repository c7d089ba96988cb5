package statistics_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	pgstore "github.com/socialops/socialops/adapters/eventstore/postgres"
	"github.com/socialops/socialops/adapters/postgres"
	"github.com/socialops/socialops/adapters/postgres/pgtest"
	"github.com/socialops/socialops/adapters/statistics"
	"github.com/socialops/socialops/catalogue"
	"github.com/socialops/socialops/commands"
	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

// TestDailyFiguresOncePerDay: after an instance's local midnight the
// follower records the day's figures once, as statistics.daily; a second
// process (or a restart) records nothing more.
func TestDailyFiguresOncePerDay(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := pgstore.New(pool, logger)
	t.Cleanup(func() { _ = store.Close() })
	reg := domain.NewEventRegistry()
	inst, err := postgres.NewTenancy(pool, domain.CryptoRandom).CreateInstance(ctx, "alice", "support")
	require.NoError(t, err)
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	require.NoError(t, err)
	now := time.Date(2026, 12, 4, 0, 30, 0, 0, shanghai) // just after local midnight: 16:30 UTC the day before
	svc := commands.NewService(store, reg, commands.Options{Now: func() time.Time { return now.Add(-20 * time.Hour) }})
	_, err = svc.ChangeReportSettings(ctx, inst.ID, "Asia/Shanghai", nil, commands.Context{})
	require.NoError(t, err)

	// Two conversations on 3 December, Shanghai time (one of them 2 December in UTC).
	var evs []pgtest.BulkEvent
	for i, at := range []time.Time{time.Date(2026, 12, 3, 7, 0, 0, 0, shanghai), time.Date(2026, 12, 3, 21, 0, 0, 0, shanghai)} {
		id := []string{"t1", "t2"}[i]
		for _, e := range []domain.Event{
			domain.ThreadOpened{ThreadID: id, InstanceID: inst.ID, Provider: "telegram", Status: domain.StatusOpen},
			domain.SessionQueued{ThreadID: id, InstanceID: inst.ID},
			domain.InboundMessageReceived{ThreadID: id, MessageID: id + "-m", Provider: "telegram", Text: "hi"},
		} {
			p, err := reg.Encode(e, domain.Metadata{EventID: domain.RandomUUID(domain.CryptoRandom), OccurredAt: at})
			require.NoError(t, err)
			evs = append(evs, pgtest.BulkEvent{Stream: domain.ThreadStream(id), Event: p})
		}
	}
	_, err = pgtest.CopyEvents(ctx, pool, func(emit func(pgtest.BulkEvent) bool) error {
		for _, e := range evs {
			emit(e)
		}
		return nil
	})
	require.NoError(t, err)
	project := func() {
		all, err := store.ReadAll(ctx, 0, 10_000)
		require.NoError(t, err)
		_, err = projections.ApplyBatch(ctx, pool, reg, projections.ReportsProjector{}, all, "", projections.Hooks{})
		require.NoError(t, err)
	}
	project()

	daily := statistics.New(pool, store, svc, statistics.Options{Now: func() time.Time { return now }, Logger: logger})
	n, err := daily.RunOnce(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	project()
	again := statistics.New(pool, store, svc, statistics.Options{Now: func() time.Time { return now.Add(time.Hour) }, Logger: logger})
	n, err = again.RunOnce(ctx)
	require.NoError(t, err)
	assert.Zero(t, n, "a second process records nothing")

	all, err := store.ReadAll(ctx, 0, 10_000)
	require.NoError(t, err)
	var found []domain.Envelope
	for _, raw := range all {
		if raw.Type == (domain.DailyStatisticsCompiled{}).EventType() {
			env, err := reg.Decode(raw)
			require.NoError(t, err)
			found = append(found, env)
		}
	}
	require.Len(t, found, 1, "one day, one record")
	d := found[0].Payload.(domain.DailyStatisticsCompiled)
	assert.Equal(t, "2026-12-03", d.Date)
	assert.Equal(t, "Asia/Shanghai", d.TimeZone)
	assert.Equal(t, float64(2), d.Conversation["conversations_created"], "both, counted on the local day")
	assert.Equal(t, float64(2), d.Message["messages_in"])

	m, ok := catalogue.Map(found[0])
	require.True(t, ok)
	assert.Equal(t, catalogue.StatisticsDaily, m.Event.Event)
	assert.Equal(t, inst.ID, m.InstanceID, "routed to the instance's subscribers")
	assert.True(t, catalogue.Known(catalogue.StatisticsDaily), "subscribable")
}

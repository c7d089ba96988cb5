package projections_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	pgstore "github.com/socialops/socialops/adapters/eventstore/postgres"
	"github.com/socialops/socialops/adapters/postgres/pgtest"
	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

// benchAgents is how many operators the report benchmarks spread work over.
const benchAgents = 200

var (
	benchChannels   = []string{"telegram", "generic-webhook", "wecom"}
	benchCategories = []string{"", "billing", "refund", "tech"}
)

// BenchmarkReportRebuild generates a year of conversations as events (each:
// opened, queued, assigned to one of 200 agents, 10 messages alternating
// customer and agent, closed) and replays them through the reports
// projector as a rebuild does, reporting events/s. The number of
// conversations is SOCIALOPS_BENCH_REPORT_CONVERSATIONS (default 20,000,
// 280,000 events; the full year, 1,000,000 conversations and
// 10,000,000 messages, is 14,000,000 events).
func BenchmarkReportRebuild(b *testing.B) {
	ctx := context.Background()
	pool := pgtest.NewPool(b)
	store := pgstore.New(pool, slog.New(slog.NewTextHandler(io.Discard, nil)))
	b.Cleanup(func() { _ = store.Close() })
	reg := domain.NewEventRegistry()
	conversations := 20_000
	if v, err := strconv.Atoi(os.Getenv("SOCIALOPS_BENCH_REPORT_CONVERSATIONS")); err == nil && v > 0 {
		conversations = v
	}
	start := time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC)
	year := 365 * 24 * time.Hour
	rnd := rand.New(rand.NewPCG(1, 2))
	events := 0
	_, err := pgtest.CopyEvents(ctx, pool, func(emit func(pgtest.BulkEvent) bool) error {
		for n := 0; n < conversations; n++ {
			id := fmt.Sprintf("c%07d", n)
			at := start.Add(time.Duration(rnd.Int64N(int64(year))))
			agent := int64(1 + rnd.IntN(benchAgents))
			out := func(e domain.Event) bool {
				p, err := reg.Encode(e, domain.Metadata{EventID: domain.RandomUUID(domain.CryptoRandom), OccurredAt: at})
				if err != nil {
					return false
				}
				events++
				return emit(pgtest.BulkEvent{Stream: domain.ThreadStream(id), Event: p})
			}
			cat := benchCategories[rnd.IntN(len(benchCategories))]
			var labels []string
			if cat != "" {
				labels = []string{cat}
			}
			out(domain.ThreadOpened{ThreadID: id, InstanceID: "soinst_bench", Provider: benchChannels[rnd.IntN(len(benchChannels))], Status: domain.StatusOpen, Labels: labels})
			out(domain.SessionQueued{ThreadID: id, InstanceID: "soinst_bench"})
			for m := 0; m < 10; m++ {
				if m%2 == 0 {
					out(domain.InboundMessageReceived{ThreadID: id, MessageID: id + strconv.Itoa(m), Text: "hello", Labels: labels})
				} else {
					out(domain.ReplyQueued{ThreadID: id, MessageID: id + strconv.Itoa(m), AuthorID: "user-" + strconv.FormatInt(agent, 10), Text: "hi"})
				}
				if m == 0 {
					at = at.Add(time.Duration(rnd.IntN(600)) * time.Second)
					out(domain.SessionAssigned{ThreadID: id, InstanceID: "soinst_bench", OperatorID: agent})
				}
				at = at.Add(time.Duration(10+rnd.IntN(900)) * time.Second)
			}
			if !out(domain.SessionClosed{ThreadID: id, InstanceID: "soinst_bench"}) {
				return nil
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		sh, err := projections.BuildShadow(ctx, pool, store, reg, projections.ReportsProjector{})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(sh.Events)/time.Since(t0).Seconds(), "events/s")
		_ = sh.Drop(ctx, pool)
	}
	b.ReportMetric(float64(events), "events")
}

// loadYearOfRollups fills the rollups as a year of 1,000,000 conversations
// and 10,000,000 messages over 200 agents leaves them, at their largest:
// every local day has a row for every agent, channel and category (with the
// agent as responder, and without one), and every hour 114 conversations'
// worth of rows. It returns the instance.
func loadYearOfRollups(b *testing.B, pool *pgxpool.Pool) string {
	ctx := context.Background()
	const inst = "soinst_year"
	start := time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC)
	rnd := rand.New(rand.NewPCG(3, 4))
	cols := append([]string{"instance_id", "bucket", "agent", "responder", "channel", "category"}, projections.RollupColumns()...)
	metrics := func(responder string) []any {
		out := make([]any, len(projections.RollupColumns()))
		for i := range out {
			out[i] = int64(0)
			if responder != "" || i%3 == 0 {
				out[i] = int64(rnd.IntN(50))
			}
		}
		return out
	}
	_, err := pgtest.CopyRows(ctx, pool, "report_daily", cols, func(emit func(row ...any) bool) error {
		for d := 0; d < 365; d++ {
			day := start.AddDate(0, 0, d)
			for a := 1; a <= benchAgents; a++ {
				for _, ch := range benchChannels {
					for _, cat := range benchCategories {
						for _, resp := range []string{"", "user-" + strconv.Itoa(a)} {
							row := append([]any{inst, day, strconv.Itoa(a), resp, ch, cat}, metrics(resp)...)
							if !emit(row...) {
								return nil
							}
						}
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	_, err = pgtest.CopyRows(ctx, pool, "report_hourly", cols, func(emit func(row ...any) bool) error {
		for h := 0; h < 365*24; h++ {
			hour := start.Add(time.Duration(h) * time.Hour)
			seen := map[string]bool{}
			for c := 0; c < 114; c++ {
				a := strconv.Itoa(1 + rnd.IntN(benchAgents))
				ch, cat := benchChannels[rnd.IntN(len(benchChannels))], benchCategories[rnd.IntN(len(benchCategories))]
				if seen[a+ch+cat] {
					continue
				}
				seen[a+ch+cat] = true
				for _, resp := range []string{"", "user-" + a} {
					if !emit(append([]any{inst, hour, a, resp, ch, cat}, metrics(resp)...)...) {
						return nil
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := pgtest.VacuumAnalyze(ctx, pool, "report_daily", "report_hourly"); err != nil {
		b.Fatal(err)
	}
	return inst
}

// BenchmarkReportQuery answers reports in the seed's shape (a month:
// type=conversation&start_date=…-01&end_date=…-31&dimensions=agent,category,
// and the other types and dimensions), plus a whole year by month and a week
// by hour, over a year of rollups at their largest (loadYearOfRollups), each
// on a random month; it reports p50_ms and p99_ms.
func BenchmarkReportQuery(b *testing.B) {
	ctx := context.Background()
	pool := pgtest.NewPool(b)
	inst := loadYearOfRollups(b, pool)
	month := func(rnd *rand.Rand) (time.Time, time.Time) {
		s := time.Date(2026, time.Month(1+rnd.IntN(11)), 1, 0, 0, 0, 0, time.UTC)
		return s, s.AddDate(0, 1, -1)
	}
	cases := []struct {
		name  string
		query func(rnd *rand.Rand) projections.ReportQuery
	}{
		{"conversation/month/agent,category/by-month", func(rnd *rand.Rand) projections.ReportQuery {
			s, e := month(rnd)
			return projections.ReportQuery{Type: "conversation", Start: s, End: e, Dimensions: []string{"agent", "category"}, Granularity: "month"}
		}},
		{"conversation/month/none", func(rnd *rand.Rand) projections.ReportQuery {
			s, e := month(rnd)
			return projections.ReportQuery{Type: "conversation", Start: s, End: e}
		}},
		{"message/month/channel", func(rnd *rand.Rand) projections.ReportQuery {
			s, e := month(rnd)
			return projections.ReportQuery{Type: "message", Start: s, End: e, Dimensions: []string{"channel"}}
		}},
		{"agent/month/agent", func(rnd *rand.Rand) projections.ReportQuery {
			s, e := month(rnd)
			return projections.ReportQuery{Type: "agent", Start: s, End: e}
		}},
		{"conversation/year-by-month/none", func(rnd *rand.Rand) projections.ReportQuery {
			return projections.ReportQuery{Type: "conversation", Start: time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC),
				End: time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC), Granularity: "month"}
		}},
		{"message/week-by-hour/channel", func(rnd *rand.Rand) projections.ReportQuery {
			s, _ := month(rnd)
			return projections.ReportQuery{Type: "message", Start: s, End: s.AddDate(0, 0, 6), Granularity: "hour", Dimensions: []string{"channel"}}
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			rnd := rand.New(rand.NewPCG(7, uint64(len(c.name))))
			durations := make([]time.Duration, 0, b.N)
			rows := 0
			b.ResetTimer()
			for range b.N {
				q := c.query(rnd)
				q.InstanceID = inst
				if err := projections.ValidateReportQuery(&q); err != nil {
					b.Fatal(err)
				}
				t0 := time.Now()
				rep, err := projections.BuildReport(ctx, pool, q)
				durations = append(durations, time.Since(t0))
				if err != nil {
					b.Fatal(err)
				}
				rows += len(rep.Series)
			}
			b.StopTimer()
			reportPercentiles(b, durations)
			b.ReportMetric(float64(rows)/float64(b.N), "rows/op")
		})
	}
}

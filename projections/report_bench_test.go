package projections_test

import (
	"container/heap"
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

// benchConversations is the size of the report benchmarks' year:
// SOCIALOPS_BENCH_REPORT_CONVERSATIONS, by default the 1,000,000
// conversations (10,000,000 messages, 14,000,000 events).
func benchConversations() int {
	if v, err := strconv.Atoi(os.Getenv("SOCIALOPS_BENCH_REPORT_CONVERSATIONS")); err == nil && v > 0 {
		return v
	}
	return 1_000_000
}

// benchEvent is an event of the generated year, with when it happened.
type benchEvent struct {
	at     time.Time
	seq    int // ties keep the order a conversation's events were made in
	stream string
	ev     domain.Event
}

// benchHeap orders events of conversations under way by time.
type benchHeap []benchEvent

func (h benchHeap) Len() int { return len(h) }
func (h benchHeap) Less(i, j int) bool {
	return h[i].at.Before(h[j].at) || h[i].at.Equal(h[j].at) && h[i].seq < h[j].seq
}
func (h benchHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *benchHeap) Push(x any)   { *h = append(*h, x.(benchEvent)) }
func (h *benchHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// loadReportYear writes a year of conversations as events, in the order of
// their times as a live log holds them: each conversation is opened,
// queued, assigned to one of 200 agents within 10 minutes, has 10 messages
// alternating customer and agent 10 s to 15 min apart, and is closed. It
// returns the instance and the number of events.
func loadReportYear(b *testing.B, pool *pgxpool.Pool, conversations int) (string, int) {
	const inst = "soinst_bench"
	ctx := context.Background()
	reg := domain.NewEventRegistry()
	start := time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC)
	step := 365 * 24 * time.Hour / time.Duration(conversations)
	rnd := rand.New(rand.NewPCG(1, 2))
	events := 0
	_, err := pgtest.CopyEvents(ctx, pool, func(emit func(pgtest.BulkEvent) bool) error {
		pending := &benchHeap{}
		seq := 0
		out := func(e benchEvent) bool {
			p, err := reg.Encode(e.ev, domain.Metadata{EventID: domain.RandomUUID(domain.CryptoRandom), OccurredAt: e.at})
			if err != nil {
				return false
			}
			events++
			return emit(pgtest.BulkEvent{Stream: e.stream, Event: p})
		}
		for n := 0; n <= conversations; n++ {
			opened := start.Add(time.Duration(n)*step + time.Duration(rnd.Int64N(int64(step))))
			// Everything that happened before this conversation opened.
			for pending.Len() > 0 && ((*pending)[0].at.Before(opened) || n == conversations) {
				if !out(heap.Pop(pending).(benchEvent)) {
					return nil
				}
			}
			if n == conversations {
				break
			}
			id := fmt.Sprintf("c%07d", n)
			stream := domain.ThreadStream(id)
			at := opened
			add := func(e domain.Event) {
				seq++
				heap.Push(pending, benchEvent{at: at, seq: seq, stream: stream, ev: e})
			}
			agent := int64(1 + rnd.IntN(benchAgents))
			cat := benchCategories[rnd.IntN(len(benchCategories))]
			var labels []string
			if cat != "" {
				labels = []string{cat}
			}
			add(domain.ThreadOpened{ThreadID: id, InstanceID: inst, Provider: benchChannels[rnd.IntN(len(benchChannels))], Status: domain.StatusOpen, Labels: labels})
			add(domain.SessionQueued{ThreadID: id, InstanceID: inst})
			for m := 0; m < 10; m++ {
				if m%2 == 0 {
					add(domain.InboundMessageReceived{ThreadID: id, MessageID: id + strconv.Itoa(m), Text: "hello", Labels: labels})
				} else {
					add(domain.ReplyQueued{ThreadID: id, MessageID: id + strconv.Itoa(m), AuthorID: "user-" + strconv.FormatInt(agent, 10), Text: "hi"})
				}
				if m == 0 {
					at = at.Add(time.Duration(rnd.IntN(600)) * time.Second)
					add(domain.SessionAssigned{ThreadID: id, InstanceID: inst, OperatorID: agent})
				}
				at = at.Add(time.Duration(10+rnd.IntN(900)) * time.Second)
			}
			add(domain.SessionClosed{ThreadID: id, InstanceID: inst})
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return inst, events
}

// BenchmarkReportQuery projects a year of events (loadReportYear) with the
// reports projector as a rebuild does, and reports that rate once (the
// "rebuild" line: events/s, measured before the queries). Then it answers
// reports in the seed's shape (a month:
// type=conversation&start_date=…-01&end_date=…-31&dimensions=agent,category,
// and the other types and dimensions), plus a whole year by month and a week
// by hour, each on a random month, reporting p50_ms and p99_ms.
func BenchmarkReportQuery(b *testing.B) {
	ctx := context.Background()
	pool := pgtest.NewPool(b)
	store := pgstore.New(pool, slog.New(slog.NewTextHandler(io.Discard, nil)))
	b.Cleanup(func() { _ = store.Close() })
	inst, events := loadReportYear(b, pool, benchConversations())
	t0 := time.Now()
	if _, err := projections.Rebuild(ctx, pool, store, domain.NewEventRegistry(), projections.ReportsProjector{}); err != nil {
		b.Fatal(err)
	}
	rebuilt := time.Since(t0)
	// Settled before the queries: otherwise autovacuum works through the
	// 14,000,000 events just loaded on the same 2 cores while they run.
	if err := pgtest.VacuumAnalyze(ctx, pool, "event_store_events", "report_daily", "report_hourly", "report_cube"); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "CHECKPOINT"); err != nil {
		b.Logf("no checkpoint before the queries: %v", err)
	}
	b.Run("rebuild", func(b *testing.B) {
		// Measured once above; reported here so it prints with the others.
		b.ReportMetric(float64(events)/rebuilt.Seconds(), "events/s")
		b.ReportMetric(float64(events), "events")
		b.ReportMetric(rebuilt.Seconds(), "s")
	})
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

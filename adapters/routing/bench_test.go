package routing_test

// Routing benchmarks (make bench BENCH=Routing PKG=./adapters/routing/):
// one instance with 1,000 active, online operators (capacity 150 each) and
// 100,000 open sessions, loaded with COPY (pgtest.CopyEvents: the events
// domain.DecideInbound appends for a new thread, and the roster's
// OperatorCreated events), the sessions read model rebuilt from them.
//
//   - drain: the 100,000 sessions are pending; the real router (follower +
//     manager) starts and drains the queue. It reports assigned/s over the
//     drain, and catchup_s: how long the follower then takes to reach the
//     log's head (it counts every SessionAssigned it caused).
//   - paced: the 100,000 sessions are now manual (open); new sessions arrive
//     through the ingest command at a steady pace while the router runs. It
//     reports p50_ms, p99_ms and max_ms from each session's SessionQueued to
//     its SessionAssigned (the events' created_at, both stamped by this
//     process's clock).
//
// Both run once whatever b.N is.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	pgstore "github.com/socialops/socialops/adapters/eventstore/postgres"
	"github.com/socialops/socialops/adapters/postgres"
	"github.com/socialops/socialops/adapters/postgres/pgtest"
	"github.com/socialops/socialops/adapters/projectionrunner"
	"github.com/socialops/socialops/adapters/routing"
	"github.com/socialops/socialops/commands"
	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

const (
	benchOperators = 1_000
	benchCapacity  = 150
	benchSessions  = 100_000
	// pacedRate new sessions per second for pacedFor.
	pacedRate = 200
	pacedFor  = 10 * time.Second
)

func BenchmarkRouting(b *testing.B) {
	ctx := context.Background()
	e := &env{t: b}
	e.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	e.pool = pgtest.NewPool(b)
	e.store = pgstore.New(e.pool, e.logger)
	b.Cleanup(func() { _ = e.store.Close() })
	e.registry = domain.NewEventRegistry()
	e.svc = commands.NewService(e.store, e.registry, commands.Options{Logger: e.logger, Snapshots: postgres.NewSnapshots(e.pool)})
	e.tenancy = postgres.NewTenancy(e.pool, nil)
	inst, err := e.tenancy.CreateInstance(ctx, "owner-1", "bench")
	if err != nil {
		b.Fatal(err)
	}
	e.inst = inst

	// Seed: operators and pending sessions, with COPY.
	t0 := time.Now()
	head, err := pgtest.CopyEvents(ctx, e.pool, func(emit func(pgtest.BulkEvent) bool) error {
		meta := func(corr string) domain.Metadata {
			return domain.Metadata{EventID: uuid.NewString(), CorrelationID: corr, OwnerID: inst.OwnerID, InstanceAlias: inst.Alias,
				Actor: domain.Actor{Kind: domain.ActorAPIKey, ID: "key_bench"}, OccurredAt: time.Now().UTC()}
		}
		for i := 1; i <= benchOperators; i++ {
			ev, err := e.registry.Encode(domain.OperatorCreated{InstanceID: inst.ID, OperatorID: int64(i), Name: fmt.Sprintf("op %d", i),
				Status: domain.OperatorActive, Capacity: benchCapacity, Presence: domain.PresenceOnline}, meta("seed-operators"))
			if err != nil {
				return err
			}
			if !emit(pgtest.BulkEvent{Stream: domain.RosterStream(inst.ID), Event: ev}) {
				return nil
			}
		}
		for i := 0; i < benchSessions; i++ {
			n := strconv.Itoa(i)
			threadID := domain.InboundThreadID(inst.ID, domain.ProviderGenericWebhook, "chat-seed-"+n)
			evs, _ := domain.DecideInbound(domain.NewThread(threadID), domain.ReceiveInbound{Instance: inst, RawPayload: []byte(`{}`),
				FeeMicroUSD: domain.InboundMessageFeeMicroUSD,
				Message: domain.InboundMessage{Provider: domain.ProviderGenericWebhook, ProviderEventID: "seed-" + n,
					ExternalThreadID: "chat-seed-" + n, Subject: "Help " + n, MessageType: domain.MessageText, Text: "hello, I need help",
					Sender: domain.Sender{ExternalID: "user-" + n, DisplayName: "Customer " + n}}})
			m := meta("seed-" + n)
			for _, payload := range evs {
				m.EventID = uuid.NewString()
				ev, err := e.registry.Encode(payload, m)
				if err != nil {
					return err
				}
				if !emit(pgtest.BulkEvent{Stream: domain.ThreadStream(threadID), Event: ev}) {
					return nil
				}
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded %d events with COPY in %s", head, time.Since(t0).Round(time.Millisecond))
	t0 = time.Now()
	if _, err := projections.Rebuild(ctx, e.pool, e.store, e.registry, projections.SessionsProjector{}); err != nil {
		b.Fatal(err)
	}
	b.Logf("rebuilt the sessions read model in %s", time.Since(t0).Round(time.Millisecond))
	e.run(projectionrunner.New(e.pool, e.store, e.registry, projectionrunner.Options{
		Projectors: []projections.Projector{projections.SessionsProjector{}}, Logger: e.logger}).Run)
	// The router starts at the head: the queue is drained when something
	// happens (here one more session arriving), as after operators come online.
	if _, err := e.pool.Exec(ctx, `INSERT INTO projection_checkpoints (projector, position) VALUES ($1, $2)`, routing.CheckpointName, int64(head)); err != nil {
		b.Fatal(err)
	}

	var assigned atomic.Int64
	e.run(routing.New(e.pool, e.store, e.registry, e.svc.NewRoutingManager(), e.tenancy, routing.Options{
		Logger: e.logger, OnAssigned: func(commands.Assignment) { assigned.Add(1) }}).Run)

	var drainWall, catchup time.Duration
	b.Run("drain", func(b *testing.B) {
		if drainWall == 0 {
			start := time.Now()
			e.session()
			want := int64(benchSessions + 1)
			for assigned.Load() < want {
				if time.Since(start) > 10*time.Minute {
					b.Fatalf("drain: %d of %d assigned after 10 min", assigned.Load(), want)
				}
				time.Sleep(5 * time.Millisecond)
			}
			drainWall = time.Since(start)
			logHead := e.head()
			for e.checkpoint() < logHead {
				if time.Since(start) > 15*time.Minute {
					b.Fatalf("the router's follower is still behind the head")
				}
				time.Sleep(20 * time.Millisecond)
			}
			catchup = time.Since(start) - drainWall
		}
		b.ReportMetric(float64(drainWall.Nanoseconds()), "ns/op")
		b.ReportMetric(float64(benchSessions+1)/drainWall.Seconds(), "assigned/s")
		b.ReportMetric(drainWall.Seconds(), "drain_s")
		b.ReportMetric(catchup.Seconds(), "catchup_s")
	})

	var lat []time.Duration
	var sent int
	b.Run("paced", func(b *testing.B) {
		if lat == nil {
			from := e.head()
			before := assigned.Load()
			tick := time.NewTicker(time.Second / pacedRate)
			var wg sync.WaitGroup
			sem := make(chan struct{}, 16)
			stop := time.Now().Add(pacedFor)
			for time.Now().Before(stop) {
				<-tick.C
				sent++
				wg.Add(1)
				sem <- struct{}{}
				go func() { defer func() { <-sem; wg.Done() }(); e.session() }()
			}
			tick.Stop()
			wg.Wait()
			deadline := time.Now().Add(2 * time.Minute)
			for assigned.Load()-before < int64(sent) {
				if time.Now().After(deadline) {
					b.Fatalf("paced: %d of %d assigned", assigned.Load()-before, sent)
				}
				time.Sleep(10 * time.Millisecond)
			}
			rows, err := e.pool.Query(ctx, `SELECT a.created_at - q.created_at FROM event_store_events q
				JOIN event_store_events a ON a.stream_name = q.stream_name AND a.event_type = 'SessionAssigned'
				WHERE q.event_type = 'SessionQueued' AND q.position > $1`, int64(from))
			if err != nil {
				b.Fatal(err)
			}
			for rows.Next() {
				var d time.Duration
				if err := rows.Scan(&d); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, d)
			}
			if err := rows.Err(); err != nil {
				b.Fatal(err)
			}
			if len(lat) != sent {
				b.Fatalf("paced: %d latencies for %d sessions", len(lat), sent)
			}
			slices.Sort(lat)
		}
		at := func(q float64) float64 {
			return float64(lat[min(int(q*float64(len(lat))), len(lat)-1)].Microseconds()) / 1000
		}
		b.ReportMetric(float64(pacedFor.Nanoseconds()), "ns/op")
		b.ReportMetric(float64(sent)/pacedFor.Seconds(), "sessions/s")
		b.ReportMetric(at(0.50), "p50_ms")
		b.ReportMetric(at(0.99), "p99_ms")
		b.ReportMetric(at(1), "max_ms")
	})
}

func (e *env) head() uint64 {
	var pos int64
	if err := e.pool.QueryRow(context.Background(), `SELECT coalesce(max(position), 0) FROM event_store_events`).Scan(&pos); err != nil {
		e.t.Fatal(err)
	}
	return uint64(pos)
}

func (e *env) checkpoint() uint64 {
	pos, err := projections.Checkpoint(context.Background(), e.pool, routing.CheckpointName)
	if err != nil {
		e.t.Fatal(err)
	}
	return pos
}

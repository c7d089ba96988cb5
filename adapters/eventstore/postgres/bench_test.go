package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	pgstore "github.com/socialops/socialops/adapters/eventstore/postgres"
	"github.com/socialops/socialops/adapters/postgres/pgtest"
	"github.com/socialops/socialops/domain"
)

// baselineDuration is how long pgbench runs for each concurrency.
const baselineDuration = 5 * time.Second

// BenchmarkAppend measures single-event appends, each to a new stream, from 1
// and from 8 and 64 concurrent appenders, and puts them beside pgbench doing one
// ~500-byte jsonb INSERT per transaction at the same concurrency on the same
// cluster. ratio_vs_pgbench is store appends/s ÷ pgbench tps: above 1 means
// group commit beats a transaction per insert, below 1 is the price of the
// append lock, the expectation checks and the log's three indexes. go_cpu_us/append and pg_cpu_us/append
// are the CPU of this process and of Postgres per append, and
// cpu_vs_pgbench their sum over the baseline's CPU per transaction (see
// pgtest.Pgbench.ReportAgainst).
func BenchmarkAppend(b *testing.B) {
	admin := pgtest.AdminURL(b)
	data := pgtest.SampleDocument(500)
	for _, appenders := range []int{1, 8, 64} {
		store := pgstore.New(pgtest.NewPool(b), nil)
		b.Cleanup(func() { _ = store.Close() })
		batches := &batchCounter{}
		store.SetObserver(batches)
		var baseline pgtest.Pgbench // measured on the first call only
		baselineDone := false

		b.Run(fmt.Sprintf("appenders=%d", appenders), func(b *testing.B) {
			ctx := context.Background()
			if !baselineDone {
				baselineDone = true
				res, err := pgtest.RunPgbench(ctx, admin, appenders, baselineDuration)
				if err != nil {
					b.Logf("no pgbench baseline: %v", err)
				}
				baseline = res
			}
			batches.reset()
			cpu0 := pgtest.CPUNow()
			b.ResetTimer()

			var next atomic.Int64
			var wg sync.WaitGroup
			errs := make(chan error, appenders)
			for range appenders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						id := uuid.NewString()
						ev := domain.ProposedEvent{ID: id, Type: "BenchmarkMessageReceived", Data: data}
						if _, err := store.Append(ctx, "bench-"+id, domain.AnyRevision(), ev); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}

			perSec := float64(b.N) / b.Elapsed().Seconds()
			b.ReportMetric(perSec, "events/s")
			b.ReportMetric(batches.perBatch(), "appends/batch")
			b.ReportMetric(batches.batchMillis(), "batch_ms")
			cpuPerAppend := 0.0
			if process, postgres, ok := cpu0.Per(int64(b.N)); ok {
				b.ReportMetric(process, "go_cpu_us/append")
				b.ReportMetric(postgres, "pg_cpu_us/append")
				cpuPerAppend = process + postgres
			}
			baseline.ReportAgainst(b, perSec, cpuPerAppend)
		})
	}
}

// batchCounter counts the group-commit batches, to report their mean size.
type batchCounter struct {
	batches, appends, nanos atomic.Int64
}

func (c *batchCounter) BatchCommitted(st pgstore.BatchStats) {
	c.batches.Add(1)
	c.appends.Add(int64(st.Appends))
	c.nanos.Add(st.Duration.Nanoseconds())
}

func (c *batchCounter) reset() { c.batches.Store(0); c.appends.Store(0); c.nanos.Store(0) }

// batchMillis is the mean time of a batch's round trip and commit.
func (c *batchCounter) batchMillis() float64 {
	if n := c.batches.Load(); n > 0 {
		return float64(c.nanos.Load()) / float64(n) / 1e6
	}
	return 0
}

func (c *batchCounter) perBatch() float64 {
	if n := c.batches.Load(); n > 0 {
		return float64(c.appends.Load()) / float64(n)
	}
	return 0
}

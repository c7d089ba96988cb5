package httpapi_test

// Benchmarks of the webhook endpoint over real Postgres, served by httptest on
// loopback with the router wired as in harness_test.go:
//
//	make bench BENCH='Ingest|EndToEndLag' PKG=./adapters/http/
//
// Every request is a generic-webhook POST of about 500 bytes with an API key
// and a new event_id, spread over benchThreads threads of four instances, so
// most requests join an existing thread (load its stream, append message +
// charge) and some open one. Latency percentiles are measured per request and
// reported as p50_ms and p99_ms.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	pgstore "github.com/socialops/socialops/adapters/eventstore/postgres"
	httpapi "github.com/socialops/socialops/adapters/http"
	"github.com/socialops/socialops/adapters/postgres"
	"github.com/socialops/socialops/adapters/postgres/pgtest"
	"github.com/socialops/socialops/adapters/projectionrunner"
	"github.com/socialops/socialops/commands"
	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

const (
	// benchThreads is how many external thread ids the requests spread over.
	benchThreads = 20_000
	// benchBodyBytes is the size of each webhook body.
	benchBodyBytes = 500
	// pgbenchDuration is how long the pgbench baseline runs per concurrency.
	pgbenchDuration = 5 * time.Second
	// pacedWorkers send the requests of a paced run.
	pacedWorkers = 64
)

// benchService is the service over a fresh database, served on loopback.
type benchService struct {
	srv        *httptest.Server
	pool       *pgxpool.Pool
	client     *http.Client
	store      *pgstore.Store
	projectors []string // names of the running projectors, if any
	key        string
	aliases    []string
	seq        atomic.Uint64 // requests made so far: each gets a new event_id
	// followUps, when above 0, makes one request in followUps+1 open a new
	// thread and the others follow up on a thread opened before (see next);
	// at 0 every request goes to a thread of its own, new until benchThreads.
	followUps uint64
}

// newBenchService builds the service as newHarness does, for any testing.TB.
// With projectors, the projection runner runs beside it, as in production;
// without, the service only writes.
func newBenchService(tb testing.TB, withProjectors bool) *benchService {
	tb.Helper()
	pool := pgtest.NewPool(tb)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := pgstore.New(pool, logger)
	tb.Cleanup(func() { _ = store.Close() })
	reg := domain.NewEventRegistry()
	tenancy := postgres.NewTenancy(pool, nil)
	svc := commands.NewService(store, reg, commands.Options{Logger: logger})
	deps := httpapi.Deps{
		Logger:             logger,
		Database:           store,
		EventStore:         store,
		Tenancy:            tenancy,
		Commands:           svc,
		Reads:              pool,
		Events:             store,
		Registry:           reg,
		ReadYourWritesWait: 2 * time.Second,
	}
	if withProjectors {
		runner := projectionrunner.New(pool, store, reg, projectionrunner.Options{Logger: logger})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = runner.Run(ctx); close(done) }()
		tb.Cleanup(func() { cancel(); <-done })
		<-runner.Running()
		deps.Projections = runner
	}
	s := &benchService{pool: pool, store: store, srv: httptest.NewServer(httpapi.NewRouter(deps))}
	if withProjectors {
		for _, p := range projections.All() {
			s.projectors = append(s.projectors, p.Name())
		}
	}
	tb.Cleanup(s.srv.Close)
	transport := &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512, IdleConnTimeout: time.Minute, DisableCompression: true}
	s.client = &http.Client{Transport: transport, Timeout: time.Minute}
	tb.Cleanup(transport.CloseIdleConnections)

	ctx := context.Background()
	for i := range 4 {
		alias := fmt.Sprintf("bench-%d", i)
		if _, err := tenancy.CreateInstance(ctx, "bench-owner", alias); err != nil {
			tb.Fatal(err)
		}
		s.aliases = append(s.aliases, alias)
	}
	key, _, err := tenancy.CreateAPIKey(ctx, "bench-owner", []string{postgres.ScopeWrite})
	if err != nil {
		tb.Fatal(err)
	}
	s.key = key
	return s
}

// padding fills webhook bodies up to benchBodyBytes.
var padding = strings.Repeat("The parcel has not arrived yet and the tracking page shows no update since Monday. ", 8)

// next makes the next request: its path and a body with a new event_id.
func (s *benchService) next() (path string, body []byte) {
	n := s.seq.Add(1)
	opening := n
	if s.followUps > 0 {
		// Request n opens thread opened = n/(followUps+1) when it is the
		// first of its group, else follows up on one opened before it,
		// picked by a hash of n (splitmix64's finalizer).
		opened := n / (s.followUps + 1)
		opening = opened
		if n%(s.followUps+1) != 0 && opened > 0 {
			h := n * 0x9e3779b97f4a7c15
			h = (h ^ h>>30) * 0xbf58476d1ce4e5b9
			h = (h ^ h>>27) * 0x94d049bb133111eb
			opening = (h ^ h>>31) % opened
		}
	}
	thread := (opening * 7919) % benchThreads // a scatter over the threads
	alias := s.aliases[thread%uint64(len(s.aliases))]
	head := `{"event_id":"evt-` + strconv.FormatUint(n, 10) + `","thread_id":"thread-` + strconv.FormatUint(thread, 10) +
		`","title":"Order ` + strconv.FormatUint(thread, 10) + `: where is my parcel?","user":{"id":"customer-` +
		strconv.FormatUint(thread%5000, 10) + `","name":"Bench Customer"},"labels":["support"],"text":"`
	tail := `"}`
	pad := max(benchBodyBytes-len(head)-len(tail), 1)
	return "/v1/apps/socialops/" + alias + "/webhook/generic-webhook", []byte(head + padding[:pad] + tail)
}

// post sends one webhook and returns its status and, when accepted, its log position.
func (s *benchService) post(ctx context.Context, path string, body []byte) (int, uint64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", s.key)
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return resp.StatusCode, 0, fmt.Errorf("status %d: %s", resp.StatusCode, raw)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	pos, err := strconv.ParseUint(resp.Header.Get(httpapi.PositionHeader), 10, 64)
	if err != nil {
		return resp.StatusCode, 0, fmt.Errorf("accepted without a position: %w", err)
	}
	return resp.StatusCode, pos, nil
}

// failures counts failed requests and keeps the first error.
type failures struct {
	n     atomic.Int64
	once  sync.Once
	first error
}

func (f *failures) add(err error) {
	f.n.Add(1)
	f.once.Do(func() { f.first = err })
}

func (f *failures) check(b *testing.B) {
	if n := f.n.Load(); n > 0 {
		b.Errorf("%d requests failed; the first: %v", n, f.first)
	}
}

// percentile returns the q-quantile of sorted durations in milliseconds.
func percentile(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := min(int(q*float64(len(sorted))), len(sorted)-1)
	return float64(sorted[i].Microseconds()) / 1000
}

func reportLatency(b *testing.B, durations []time.Duration) {
	slices.Sort(durations)
	b.ReportMetric(percentile(durations, 0.50), "p50_ms")
	b.ReportMetric(percentile(durations, 0.99), "p99_ms")
}

// warmUp sends n requests from 64 clients, unmeasured, then vacuums and
// analyzes the event store's tables: connections, pool and prepared
// statements are ready, and the planner knows the tables are not empty. (On a
// fresh database the statements prepared in the first second keep plans made
// for empty tables, sequential scans included, until autovacuum analyzes the
// tables; a long-lived database does not have that problem, so measuring it
// would mislead.)
func (s *benchService) warmUp(b *testing.B, n int) {
	var next atomic.Int64
	var fails failures
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				path, body := s.next()
				if _, _, err := s.post(context.Background(), path, body); err != nil {
					fails.add(err)
				}
			}
		}()
	}
	wg.Wait()
	fails.check(b)
	ctx := context.Background()
	if err := pgtest.VacuumAnalyze(ctx, s.pool, "event_store_events"); err != nil {
		b.Fatal(err)
	}
	if len(s.projectors) > 0 {
		// Start measuring with the projectors caught up.
		head, err := s.store.HeadPosition(ctx)
		if err != nil {
			b.Fatal(err)
		}
		fresh, err := projections.WaitForPosition(ctx, s.pool, s.projectors, head, time.Minute)
		if err != nil || !fresh {
			b.Fatalf("projectors did not catch up with the warm-up (position %d) within a minute: %v", head, err)
		}
	}
}

// BenchmarkIngestWebhook measures accepted webhooks per second from 8 and
// from 64 concurrent clients (closed loop: each sends its next request when
// the previous one is answered), with p50/p99 latency, and puts pgbench
// beside it at the same concurrency on the same cluster (one ~500-byte jsonb
// INSERT per transaction; see pgtest.RunPgbench). ratio_vs_pgbench is
// accepted/s ÷ pgbench tps, and cpu_vs_pgbench the CPU per accepted webhook
// (this process, load generator included, and Postgres) ÷ the baseline's per
// transaction (pgbench and Postgres). The projection runner does not run here, so the
// figure is the write path alone; BenchmarkIngestPaced1000 and
// BenchmarkEndToEndLag run it.
func BenchmarkIngestWebhook(b *testing.B) {
	admin := pgtest.AdminURL(b)
	s := newBenchService(b, false)
	s.warmUp(b, 2000)
	for _, clients := range []int{8, 64} {
		var baseline pgtest.Pgbench
		baselineDone := false
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			ctx := context.Background()
			if !baselineDone {
				baselineDone = true
				res, err := pgtest.RunPgbench(ctx, admin, clients, pgbenchDuration)
				if err != nil {
					b.Logf("no pgbench baseline: %v", err)
				}
				baseline = res
			}
			batches := &storeBatches{}
			s.store.SetObserver(batches)
			defer s.store.SetObserver(nil)
			cpu0 := pgtest.CPUNow()
			perClient := make([][]time.Duration, clients)
			var next, accepted atomic.Int64
			var fails failures
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for c := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						path, body := s.next()
						t0 := time.Now()
						_, _, err := s.post(ctx, path, body)
						perClient[c] = append(perClient[c], time.Since(t0))
						if err != nil {
							fails.add(err)
							continue
						}
						accepted.Add(1)
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			fails.check(b)

			perSec := float64(accepted.Load()) / elapsed.Seconds()
			b.ReportMetric(perSec, "accepted/s")
			cpuPerWebhook := reportProcess(b, cpu0, accepted.Load())
			reportLatency(b, slices.Concat(perClient...))
			batches.report(b)
			baseline.ReportAgainst(b, perSec, cpuPerWebhook)
		})
	}
}

// pacedRun is the outcome of runPaced.
type pacedRun struct {
	accepted  int
	elapsed   time.Duration   // from the first scheduled send to the last answer
	latencies []time.Duration // from each request's scheduled time to its answer
}

// runPaced sends rate requests per second for duration, open loop: request i
// is due at start + i/rate whatever happened to the others, and pacedWorkers
// workers take the requests in order, each waiting for its request's time.
// Latency counts from the due time, so a request that waited for a free
// worker (the service falling behind) counts its wait. accepted is called
// with each accepted response's position and the time it arrived.
func runPaced(b *testing.B, s *benchService, rate int, duration time.Duration, accepted func(pos uint64, at time.Time)) pacedRun {
	n := int(duration.Seconds() * float64(rate))
	interval := time.Second / time.Duration(rate)
	latencies := make([]time.Duration, n)
	var next, ok atomic.Int64
	var fails failures
	var wg sync.WaitGroup
	var lastMu sync.Mutex
	var last time.Time
	start := time.Now().Add(10 * time.Millisecond)
	for range pacedWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				due := start.Add(time.Duration(i) * interval)
				if wait := time.Until(due); wait > 0 {
					time.Sleep(wait)
				}
				path, body := s.next()
				_, pos, err := s.post(context.Background(), path, body)
				now := time.Now()
				latencies[i] = now.Sub(due)
				lastMu.Lock()
				if now.After(last) {
					last = now
				}
				lastMu.Unlock()
				if err != nil {
					fails.add(err)
					continue
				}
				ok.Add(1)
				if accepted != nil {
					accepted(pos, now)
				}
			}
		}()
	}
	wg.Wait()
	fails.check(b)
	return pacedRun{accepted: int(ok.Load()), elapsed: last.Sub(start), latencies: latencies}
}

// BenchmarkIngestPaced1000 sends a steady 1,000 webhooks per second (open
// loop, see runPaced) for 5 s to the service with its projection runner
// running, as in production, and reports the achieved rate and the p50/p99
// latency counted from each request's scheduled time. It runs once whatever
// b.N is.
func BenchmarkIngestPaced1000(b *testing.B) {
	benchPaced(b, newBenchService(b, true))
}

// BenchmarkIngestPaced1000FollowUps is BenchmarkIngestPaced1000 with a
// mix of conversations: one webhook in five opens one, the others follow
// up on a conversation opened before (three events each instead of five,
// and rows the projectors update rather than insert).
func BenchmarkIngestPaced1000FollowUps(b *testing.B) {
	s := newBenchService(b, true)
	s.followUps = 4
	benchPaced(b, s)
}

func benchPaced(b *testing.B, s *benchService) {
	s.warmUp(b, 2000)
	batches := &storeBatches{}
	s.store.SetObserver(batches)
	reads0 := s.store.SubscriptionReads()
	b.ResetTimer()
	cpu0 := pgtest.CPUNow()
	run := runPaced(b, s, 1000, 5*time.Second, nil)
	b.StopTimer()
	// How often the followers of the log went to the database rather than
	// the store's tail (the rest: from memory).
	b.ReportMetric(float64(s.store.SubscriptionReads()-reads0), "subscription_db_reads")
	s.store.SetObserver(nil)
	batches.report(b)
	reportProcess(b, cpu0, int64(run.accepted))
	s.reportCatchUp(b)
	b.ReportMetric(float64(run.elapsed.Nanoseconds()), "ns/op")
	b.ReportMetric(float64(run.accepted)/run.elapsed.Seconds(), "accepted/s")
	reportLatency(b, run.latencies)
}

// reportCatchUp reports how long after the load every projector reached the
// head of the log (catchup_ms): what the read models trailed by when it
// ended, background projectors included.
func (s *benchService) reportCatchUp(b *testing.B) {
	ctx := context.Background()
	head, err := s.store.HeadPosition(ctx)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	fresh, err := projections.WaitForPosition(ctx, s.pool, s.projectors, head, time.Minute)
	if err != nil || !fresh {
		b.Fatalf("projectors did not reach position %d within a minute: %v", head, err)
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "catchup_ms")
}

// storeBatches tells how the store's group commits went: their mean size
// and the mean time of one (its round trip and commit), so the share of a
// webhook's latency spent appending shows.
type storeBatches struct {
	mu               sync.Mutex
	batches, appends int
	total, longest   time.Duration
}

func (o *storeBatches) BatchCommitted(st pgstore.BatchStats) {
	o.mu.Lock()
	o.batches++
	o.appends += st.Appends
	o.total += st.Duration
	o.longest = max(o.longest, st.Duration)
	o.mu.Unlock()
}

func (o *storeBatches) report(b *testing.B) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.batches == 0 {
		return
	}
	b.ReportMetric(float64(o.appends)/float64(o.batches), "appends/batch")
	b.ReportMetric(float64(o.total.Microseconds())/float64(o.batches)/1000, "batch_ms")
	b.ReportMetric(float64(o.longest.Microseconds())/1000, "batch_max_ms")
}

// checkpointWatcher resolves waiters when the inbox projector's checkpoint
// reaches their position: one goroutine reads the checkpoint every
// millisecond and records, for each waiter it resolves, the time since the
// waiter was added.
type checkpointWatcher struct {
	mu      sync.Mutex
	waiting []lagWaiter
	lags    []time.Duration
	polls   int
}

type lagWaiter struct {
	pos   uint64
	since time.Time
}

func (w *checkpointWatcher) add(pos uint64, since time.Time) {
	w.mu.Lock()
	w.waiting = append(w.waiting, lagWaiter{pos, since})
	w.mu.Unlock()
}

func (w *checkpointWatcher) pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.waiting)
}

func (w *checkpointWatcher) run(ctx context.Context, pool *pgxpool.Pool, projector string) error {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		cp, err := projections.Checkpoint(ctx, pool, projector)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		now := time.Now()
		w.mu.Lock()
		w.polls++
		keep := w.waiting[:0]
		for _, x := range w.waiting {
			if x.pos <= cp {
				w.lags = append(w.lags, now.Sub(x.since))
			} else {
				keep = append(keep, x)
			}
		}
		w.waiting = keep
		w.mu.Unlock()
	}
}

// BenchmarkEndToEndLag sends 500 webhooks per second (paced, see runPaced)
// for 5 s to the service with its projection runner running and measures, for
// each accepted webhook, the time from its response to the inbox projector's
// checkpoint reaching the response's X-SocialOps-Position: how long a client
// waits before the inbox shows its message. The checkpoint is polled every
// millisecond, so figures are good to about a millisecond. It reports p50_ms
// and p99_ms of that lag, its max_ms, and the ingest latency (ingest_p99_ms,
// from the scheduled send). It runs once whatever b.N is.
func BenchmarkEndToEndLag(b *testing.B) {
	s := newBenchService(b, true)
	s.warmUp(b, 2000)
	w := &checkpointWatcher{}
	ctx, cancel := context.WithCancel(context.Background())
	watchErr := make(chan error, 1)
	go func() { watchErr <- w.run(ctx, s.pool, projections.InboxProjector{}.Name()) }()
	b.ResetTimer()
	run := runPaced(b, s, 500, 5*time.Second, w.add)
	deadline := time.Now().Add(30 * time.Second)
	for w.pending() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	b.StopTimer()
	cancel()
	if err := <-watchErr; err != nil {
		b.Fatal(err)
	}
	if n := w.pending(); n > 0 {
		b.Errorf("%d accepted webhooks were not projected within 30 s", n)
	}
	b.ReportMetric(float64(run.elapsed.Nanoseconds()), "ns/op")
	b.ReportMetric(float64(run.accepted)/run.elapsed.Seconds(), "accepted/s")
	slices.Sort(run.latencies)
	b.ReportMetric(percentile(run.latencies, 0.99), "ingest_p99_ms")
	reportLatency(b, w.lags)
	b.ReportMetric(percentile(w.lags, 1), "max_ms")
	b.ReportMetric(float64(w.polls)/run.elapsed.Seconds(), "polls/s")
}

// reportProcess reports, per accepted webhook since t0, the CPU of the Go
// process (server and load generator together: they share this process)
// and of the machine's Postgres processes, so the split between our code
// and the database shows; and the process's resident memory now and at its
// peak, in MB. It returns the two CPUs' sum per webhook (0 when Postgres's
// is not visible).
func reportProcess(b *testing.B, t0 pgtest.CPU, accepted int64) (cpuPerWebhook float64) {
	if accepted > 0 {
		process, postgres, pgOK := t0.Per(accepted)
		b.ReportMetric(process, "go_cpu_us/webhook")
		if pgOK {
			b.ReportMetric(postgres, "pg_cpu_us/webhook")
			cpuPerWebhook = process + postgres
		}
	}
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return cpuPerWebhook
	}
	for _, line := range strings.Split(string(raw), "\n") {
		for name, unit := range map[string]string{"VmRSS:": "rss_MB", "VmHWM:": "peak_rss_MB"} {
			if rest, ok := strings.CutPrefix(line, name); ok {
				if kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64); err == nil {
					b.ReportMetric(kb/1024, unit)
				}
			}
		}
	}
	return cpuPerWebhook
}

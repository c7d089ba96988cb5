package realtime_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	pgstore "github.com/socialops/socialops/adapters/eventstore/postgres"
	"github.com/socialops/socialops/adapters/postgres/pgtest"
	"github.com/socialops/socialops/adapters/realtime"
	"github.com/socialops/socialops/domain"
)

// BenchmarkWebSockets10k (make bench BENCH=WebSockets PKG=./adapters/realtime/ BENCHTIME=1x): 10,000
// WebSocket connections to one hub, spread over 100 instances (100
// connections each, the seed-002 protocol). The load generator is this test
// binary run again as a child process in the same run (one process may not
// hold the 20,000 sockets of both ends here). Messages are committed at 500/s
// round-robin over the instances for 10 s, so each is pushed to 100
// connections (50,000 pushes/s). Reports p50/p99/max from the append
// returning (just after the commit) to receipt in the client, the server
// process's RSS, and the RSS each idle connection adds to the server.
func BenchmarkWebSockets10k(b *testing.B) {
	const conns, instances, rate, seconds = 10_000, 100, 500, 10
	pool := pgtest.NewPool(b)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := pgstore.New(pool, logger)
	defer store.Close()
	reg := domain.NewEventRegistry()
	hub := realtime.New(store, realtime.Options{Registry: reg, Logger: logger})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = hub.Run(ctx) }()
	<-hub.Ready()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := r.URL.Query().Get("i")
		hub.Serve(w, r, realtime.Client{Instance: domain.Instance{ID: "inst_" + i, Alias: "a" + i}, Protocol: realtime.ProtocolEvents})
	}))
	defer srv.Close()
	appendOne := func(thread string, ev domain.Event) (uint64, time.Time) {
		pe, err := reg.Encode(ev, domain.Metadata{EventID: uuid.NewString(), OccurredAt: time.Now()})
		if err != nil {
			b.Fatal(err)
		}
		res, err := store.Append(context.Background(), domain.ThreadStream(thread), domain.AnyRevision(), pe)
		if err != nil {
			b.Fatal(err)
		}
		return res.Position, time.Now()
	}
	for i := 0; i < instances; i++ {
		id := fmt.Sprintf("soth_%d", i)
		appendOne(id, domain.ThreadOpened{ThreadID: id, InstanceID: fmt.Sprintf("inst_%d", i), Provider: "generic-webhook", ContactID: "socus_1"})
	}
	runtime.GC()
	rssBefore := rss()

	child := exec.Command(os.Args[0], "-test.run=^TestWebSocketLoadClient$")
	child.Env = append(os.Environ(), "SOCIALOPS_WS_LOAD_URL=ws"+strings.TrimPrefix(srv.URL, "http")+"/",
		fmt.Sprintf("SOCIALOPS_WS_LOAD_CONNS=%d", conns), fmt.Sprintf("SOCIALOPS_WS_LOAD_INSTANCES=%d", instances))
	child.Stderr = os.Stderr
	stdin, _ := child.StdinPipe()
	stdout, _ := child.StdoutPipe()
	if err := child.Start(); err != nil {
		b.Fatal(err)
	}
	out := bufio.NewScanner(stdout)
	out.Buffer(make([]byte, 1<<20), 1<<20)
	for out.Scan() && out.Text() != "ready" {
	}
	time.Sleep(time.Second)
	runtime.GC()
	perConn := float64(rss()-rssBefore) / conns
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)

	b.ResetTimer()
	var commitMu sync.Mutex
	committed := map[uint64]time.Time{}
	var appenders sync.WaitGroup
	tick := time.NewTicker(time.Second / rate)
	work := make(chan int, rate)
	for w := 0; w < 16; w++ {
		appenders.Add(1)
		go func() {
			defer appenders.Done()
			for k := range work {
				id := fmt.Sprintf("soth_%d", k%instances)
				p, at := appendOne(id, domain.InboundMessageReceived{ThreadID: id, MessageID: fmt.Sprintf("m%d", k), Text: "hello there"})
				commitMu.Lock()
				committed[p] = at
				commitMu.Unlock()
			}
		}()
	}
	start := time.Now()
	for k := 0; k < rate*seconds; k++ {
		<-tick.C
		work <- k
	}
	close(work)
	appenders.Wait()
	tick.Stop()
	sent := time.Since(start)
	time.Sleep(2 * time.Second)
	peakRSS := rss()
	b.StopTimer()
	_ = stdin.Close() // the client prints its samples and exits
	var lat []time.Duration
	received := 0
	for out.Scan() {
		f := strings.Fields(out.Text())
		if len(f) != 2 {
			continue
		}
		p, _ := strconv.ParseUint(f[0], 10, 64)
		ns, _ := strconv.ParseInt(f[1], 10, 64)
		received++
		if at, ok := committed[p]; ok {
			lat = append(lat, max(0, time.Unix(0, ns).Sub(at)))
		}
	}
	if err := child.Wait(); err != nil {
		b.Fatalf("load client: %v", err)
	}
	if len(lat) == 0 {
		b.Fatal("no pushes received")
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(f float64) float64 { return float64(lat[int(f*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(float64(len(committed))/sent.Seconds(), "events/s")
	b.ReportMetric(float64(received)/sent.Seconds(), "pushes/s")
	b.ReportMetric(float64(len(committed)*conns/instances-len(lat)), "missing")
	b.ReportMetric(q(0.5), "p50_ms")
	b.ReportMetric(q(0.99), "p99_ms")
	b.ReportMetric(q(1), "max_ms")
	b.ReportMetric(float64(peakRSS)/(1<<20), "server_rss_MB")
	b.ReportMetric(perConn, "bytes/idle_conn")
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "idle_heap_MB")
	b.ReportMetric(float64(ms.StackInuse)/(1<<20), "idle_stack_MB")
}

// TestWebSocketLoadClient is BenchmarkWebSockets10k's load generator, run
// by it as a child process; skipped otherwise. It prints "ready" once every
// connection is open, then, when its stdin closes, "position receipt_ns" for
// every push it received.
func TestWebSocketLoadClient(t *testing.T) {
	url := os.Getenv("SOCIALOPS_WS_LOAD_URL")
	if url == "" {
		t.Skip("run by BenchmarkWebSockets10k")
	}
	conns, _ := strconv.Atoi(os.Getenv("SOCIALOPS_WS_LOAD_CONNS"))
	instances, _ := strconv.Atoi(os.Getenv("SOCIALOPS_WS_LOAD_INSTANCES"))
	type sample struct {
		pos uint64
		at  int64
	}
	results := make([][]sample, conns)
	clients := make([]*websocket.Conn, conns)
	var wg sync.WaitGroup
	for n := 0; n < conns; n++ {
		dctx, dcancel := context.WithTimeout(context.Background(), 30*time.Second)
		c, _, err := websocket.Dial(dctx, url+"?i="+strconv.Itoa(n%instances), nil)
		dcancel()
		if err != nil {
			t.Fatalf("dial %d: %v", n, err)
		}
		clients[n] = c
		if _, _, err := c.Read(context.Background()); err != nil { // connected
			t.Fatal(err)
		}
		wg.Add(1)
		go func(n int, c *websocket.Conn) {
			defer wg.Done()
			for {
				_, msg, err := c.Read(context.Background())
				if err != nil {
					return
				}
				at := time.Now().UnixNano()
				if i := bytes.Index(msg, []byte(`"position":`)); i >= 0 {
					rest := msg[i+len(`"position":`):]
					if j := bytes.IndexByte(rest, ','); j > 0 {
						if p, err := strconv.ParseUint(string(rest[:j]), 10, 64); err == nil {
							results[n] = append(results[n], sample{p, at})
						}
					}
				}
			}
		}(n, c)
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, c := range clients {
		_ = c.CloseNow()
	}
	wg.Wait()
	w := bufio.NewWriter(os.Stdout)
	for _, rs := range results {
		for _, s := range rs {
			fmt.Fprintf(w, "%d %d\n", s.pos, s.at)
		}
	}
	_ = w.Flush()
}

// rss is the process's resident set in bytes (Linux).
func rss() int64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

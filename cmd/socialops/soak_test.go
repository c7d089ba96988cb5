package main

// TestSoak is `make soak`: the built binary as a subprocess on its own Postgres
// cluster, 10,000+ webhooks from retrying provider-like clients, notes and
// replies through the console, two SIGKILLs of the server and a Postgres
// restart under load; then everything the clients were told is checked against
// the event store, the read models, the ledger and the local Bot API. It skips
// unless SOCIALOPS_SOAK=1.
//
// Settings (for quicker local runs): SOCIALOPS_SOAK_WEBHOOKS (default 11000
// deliveries), SOCIALOPS_SOAK_RATE (110 per second), SOCIALOPS_SOAK_CLIENTS
// (48), SOCIALOPS_SOAK_CONSOLE_RATE (6 notes/replies per second).

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func soakSetting(t *testing.T, name string, def float64) float64 {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	require.NoError(t, err, "%s", name)
	require.Greater(t, f, 0.0, "%s", name)
	return f
}

func TestSoak(t *testing.T) {
	if os.Getenv("SOCIALOPS_SOAK") != "1" {
		t.Skip("the soak test runs with make soak (SOCIALOPS_SOAK=1)")
	}
	runSoak(t, "soak", 1)
}

// runSoak drives `servers` server processes on one database: with one, two
// SIGKILLs and a restart of it; with several (make soak-ha), two SIGKILLs of
// whichever process holds the most follower roles, each measured until every
// role it held runs in another process. Both restart Postgres once: with one
// server as a crash (an immediate stop), with several as a fast stop.
func runSoak(t *testing.T, name string, servers int) {
	begin := time.Now()
	total := int(soakSetting(t, "SOCIALOPS_SOAK_WEBHOOKS", 11000))
	rate := soakSetting(t, "SOCIALOPS_SOAK_RATE", 110)
	clients := int(soakSetting(t, "SOCIALOPS_SOAK_CLIENTS", 48))
	consoleRate := soakSetting(t, "SOCIALOPS_SOAK_CONSOLE_RATE", 6)

	e := newSoakEnv(t, servers)
	t.Logf("setup (cluster, fresh database, build, CLI configuration, %d server(s)) took %s; server logs in %s", servers, time.Since(begin).Round(time.Millisecond), e.logDir)

	stats := newSoakStats()
	load := newSoakLoad(e, stats)
	seed := uint64(time.Now().UnixNano())
	gen, err := newSoakGen(e, seed)
	require.NoError(t, err)
	console := newSoakConsole(load)
	t.Logf("load: %d webhook deliveries at %.0f/s over %d clients (seed %d), console notes and replies at %.0f/s", total, rate, clients, seed, consoleRate)

	// Chaos, driven by the progress of the load.
	var chaosMu sync.Mutex
	var chaosLog, chaosErrs []string
	logChaos := func(format string, args ...any) {
		chaosMu.Lock()
		defer chaosMu.Unlock()
		chaosLog = append(chaosLog, fmt.Sprintf("%7.1fs ", time.Since(begin).Seconds())+fmt.Sprintf(format, args...))
	}
	chaosErr := func(format string, args ...any) {
		chaosMu.Lock()
		defer chaosMu.Unlock()
		chaosErrs = append(chaosErrs, fmt.Sprintf(format, args...))
	}
	waitFor := func(frac float64) {
		for load.dispatched.Load() < int64(frac*float64(total)) {
			time.Sleep(20 * time.Millisecond)
		}
	}
	failover := &soakFailovers{}
	kill := func(n int) {
		load.phase.Store(fmt.Sprintf("kill-%d", n))
		if servers > 1 {
			e.killRoleHolder(n, failover, logChaos, chaosErr)
			load.phase.Store("steady")
			return
		}
		code, away, err := e.restartServer(e.slots[0], syscall.SIGKILL)
		if err != nil {
			chaosErr("restart after SIGKILL %d: %v", n, err)
		}
		ready, rerr := e.waitReady(60 * time.Second)
		if rerr != nil {
			chaosErr("after SIGKILL %d: %v", n, rerr)
		}
		load.phase.Store("steady")
		logChaos("SIGKILL %d at %d/%d deliveries: exit %d, /healthz again after %s, /readyz after another %s",
			n, load.dispatched.Load(), total, code, away.Round(time.Millisecond), ready.Round(time.Millisecond))
	}
	chaosDone := make(chan struct{})
	go func() {
		defer close(chaosDone)
		waitFor(0.20)
		kill(1)
		waitFor(0.45)
		load.phase.Store("pg-restart")
		start := time.Now()
		// One server: Postgres crashes (an immediate stop), so the read
		// models' asynchronous commits not yet on disk are lost and their
		// projectors apply those events again. Several: a fast stop, as in a
		// database failover.
		how, told := "restart", "stop -m fast, start"
		if servers == 1 {
			how, told = "crash", "crash: stop -m immediate, start"
		}
		before := e.checkpoints()
		out, err := e.localpgErr(how)
		if err != nil {
			chaosErr("Postgres %s: %v %s", how, err, out)
		}
		down := time.Since(start)
		ready, rerr := e.waitReady(60 * time.Second)
		if rerr != nil {
			chaosErr("after the Postgres restart: %v", rerr)
		}
		load.phase.Store("steady")
		logChaos("Postgres restart (%s) at %d/%d deliveries took %s; server /readyz 200 again %s later",
			told, load.dispatched.Load(), total, down.Round(time.Millisecond), ready.Round(time.Millisecond))
		logChaos("checkpoints the restart took back (read just before it, then after it): %s", takenBack(before, e.checkpoints()))
		waitFor(0.70)
		kill(2)
	}()

	stopConsole := make(chan struct{})
	consoleDone := make(chan struct{})
	go func() { console.run(consoleRate, stopConsole); close(consoleDone) }()

	loadStart := time.Now()
	load.run(gen, total, rate, clients)
	close(stopConsole)
	<-consoleDone
	<-chaosDone
	loadTime := time.Since(loadStart)
	t.Logf("load done in %s", loadTime.Round(time.Millisecond))

	// A final graceful restart (of slot 1: with several servers, its roles
	// move over at once), then let everything settle.
	code, away, err := e.restartServer(e.slots[0], syscall.SIGTERM)
	require.NoError(t, err)
	logChaos("SIGTERM: exit %d, back after %s", code, away.Round(time.Millisecond))
	if code != 0 {
		chaosErr("graceful shutdown (SIGTERM) exited %d, want 0; log %s", code, e.logDir)
	}
	if _, err := e.waitReady(60 * time.Second); err != nil {
		chaosErr("after the final restart: %v", err)
	}
	settled, pending := e.settle(4 * time.Minute)
	t.Logf("settled in %s", settled.Round(time.Millisecond))
	if pending != "" {
		t.Logf("did not settle within 4 minutes: %s", pending)
	}

	for _, s := range e.slowestReplies(3) {
		t.Logf("slowest reply: %s", s)
	}
	res := e.check(stats, console)
	if pending != "" {
		// A projector that never reaches the head is halted: the poison got through.
		res.fail("the read side did not settle within 4 minutes: %s", pending)
	}
	if _, parked, status := e.projectionLag(); parked > 0 {
		// Parking keeps the other tenants going, but no valid traffic may need it.
		res.fail("%d event(s) parked by the projectors:\n%s", parked, status)
	}
	verifyOut, verifyErr, verifyCode := e.cliCode("projections", "verify")
	if verifyCode != 0 {
		res.fail("projections verify exited %d:\n%s%s", verifyCode, verifyOut, verifyErr)
	} else {
		res.note("projections verify: %s", strings.Join(strings.Fields(verifyOut), " "))
	}

	// The last servers stop gracefully too.
	for _, last := range e.takeServers() {
		if code := e.stopServer(last, syscall.SIGTERM); code != 0 {
			res.fail("the final graceful shutdown (SIGTERM) exited %d, want 0; log %s", code, last.logPath)
		}
	}

	// The report.
	stats.mu.Lock()
	lags := append([]time.Duration(nil), stats.lags...)
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	var maxLag time.Duration
	if len(lags) > 0 {
		maxLag = lags[len(lags)-1]
		t.Logf("lag 202 → visible in the inbox (position header): %d samples, p50 %s, p90 %s, max %s",
			len(lags), lags[len(lags)/2].Round(time.Millisecond), lags[len(lags)*9/10].Round(time.Millisecond), maxLag.Round(time.Millisecond))
	}
	for _, f := range stats.lagFailures {
		res.fail("%s", f)
	}
	t.Logf("clients: %d deliveries (%d duplicate copies, %d bad inputs), %d HTTP attempts; statuses %v; connection errors %v",
		stats.sent, stats.copies, stats.bad, stats.attempts, stats.byStatus, stats.transport)
	t.Logf("retried answers by chaos phase: %v", stats.byPhase)
	console.mu.Lock()
	t.Logf("console statuses (0 = connection error): %v", console.statusN)
	t.Logf("poison: %d copies of a generic event id on another thread; %d console texts with control characters, %d refused 400 invalid_field",
		stats.crossThread, console.poisonSent, console.poisonRefused)
	poison := stats.crossThread + console.poisonSent
	console.mu.Unlock()
	for i, u := range stats.unexpected {
		if i == 30 {
			t.Logf("… %d more unexpected answers", len(stats.unexpected)-30)
			break
		}
		t.Logf("unexpected: %s", u)
	}
	unexpected := len(stats.unexpected)
	summary := fmt.Sprintf("%s: sent=%d accepted=%d duplicates=%d rejected=%d poison=%d lost=%d doubled=%d max_lag_ms=%d",
		name, stats.sent, stats.accepted, stats.duplicates, stats.rejected, poison, res.lost, res.doubled, maxLag.Milliseconds())
	if servers > 1 {
		summary += failover.summary()
		if failover.count == 0 {
			res.fail("no follower role moved to another process after the SIGKILLs")
		}
		if failover.max > 10*time.Second {
			res.fail("a role took %s to move to another process; the bound is 10 s", failover.max.Round(time.Millisecond))
		}
	}
	stats.mu.Unlock()

	chaosMu.Lock()
	for _, c := range chaosLog {
		t.Logf("chaos %s", c)
	}
	for _, c := range chaosErrs {
		res.fail("chaos: %s", c)
	}
	chaosMu.Unlock()
	e.mu.Lock()
	for _, u := range e.unexpected {
		res.fail("the server did not stay up: %s", u)
	}
	e.mu.Unlock()
	for _, n := range res.notes {
		t.Logf("%s", n)
	}
	if digest := e.soakLogDigest(); len(digest) > 0 {
		t.Logf("server warnings and errors (%s):", e.logDir)
		for i, d := range digest {
			if i == 25 {
				t.Logf("  … %d more kinds", len(digest)-25)
				break
			}
			t.Logf("  %s", d)
		}
	}
	for i, f := range res.failures {
		if i == 50 {
			t.Errorf("… %d more failures", len(res.failures)-50)
			break
		}
		t.Errorf("%s", f)
	}
	if unexpected > 0 {
		t.Errorf("%d answers were not what a valid or bad delivery should get (see 'unexpected' above)", unexpected)
	}
	t.Logf("total run time %s (load %s)", time.Since(begin).Round(time.Millisecond), loadTime.Round(time.Millisecond))
	fmt.Println(summary)
	if res.lost != 0 || res.doubled != 0 {
		t.Errorf("lost=%d doubled=%d, want 0 and 0", res.lost, res.doubled)
	}
}

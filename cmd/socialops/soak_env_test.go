package main

// The soak test's environment: its own Postgres cluster, the built binary run
// as a subprocess (so it can be SIGKILLed), the admin CLI, and a local Bot API.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

const (
	soakPGPort   = "54339"
	soakDatabase = "socialops_soak"
	soakOwner    = "soak-owner"
	soakAlias    = "soak"
)

// soakEnv is everything the soak drives.
type soakEnv struct {
	t       *testing.T
	root    string // the repository
	bin     string // the built binary
	logDir  string // server logs, kept after the run
	script  string // adapters/postgres/localpg.sh
	dbURL   string
	cliEnv  []string
	srvEnv  []string // every server's settings but its addresses
	base    string   // slot 1's address, for setup requests
	slots   []*soakSlot
	rr      atomic.Uint64 // round-robin over the slots
	bot     *soakBotAPI
	pool    *pgxpool.Pool
	apiKey  string
	token   string
	secrets map[string]string

	mu      sync.Mutex // server lifecycle
	started int
	// unexpected lists server exits the test did not cause.
	unexpected []string
}

// soakSlot is one place a server runs: `make soak` has one, `make soak-ha`
// three, each with its own address, all on one database.
type soakSlot struct {
	n    int
	addr string
	base string
	srv  *soakServer
}

type soakServer struct {
	n        int
	slot     *soakSlot
	cmd      *exec.Cmd
	logPath  string
	done     chan struct{}
	err      error
	stopping atomic.Bool
}

func (s *soakServer) exitCode() int {
	var ee *exec.ExitError
	switch {
	case s.err == nil:
		return 0
	case errors.As(s.err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	default:
		return -1
	}
}

func soakRandomB64(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// soakBaseEnv is the caller's environment without any SOCIALOPS_ setting, so
// a developer's own database URL can never leak into the soak.
func soakBaseEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SOCIALOPS_") {
			out = append(out, kv)
		}
	}
	return out
}

// newSoakEnv prepares the cluster, the binary, the configuration and
// `servers` server processes on one database.
func newSoakEnv(t *testing.T, servers int) *soakEnv {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	e := &soakEnv{t: t, root: root, script: filepath.Join(root, "adapters", "postgres", "localpg.sh")}
	e.logDir = filepath.Join(root, ".data", "soak-logs")
	require.NoError(t, os.RemoveAll(e.logDir))
	require.NoError(t, os.MkdirAll(e.logDir, 0o755))

	// 1. Our own cluster and a fresh database.
	e.localpg("up")
	admin := strings.TrimSpace(e.localpg("url", "postgres"))
	e.dbURL = strings.TrimSpace(e.localpg("url", soakDatabase))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+soakDatabase+" WITH (FORCE)")
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+soakDatabase)
	require.NoError(t, err)
	require.NoError(t, conn.Close(ctx))
	t.Cleanup(func() { e.localpg("stop") })

	// 2. The binary.
	tmp := t.TempDir()
	e.bin = filepath.Join(tmp, "socialops")
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	build := exec.Command(gobin, "build", "-o", e.bin, "./cmd/socialops")
	build.Dir = root
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	e.cliEnv = append(soakBaseEnv(),
		"SOCIALOPS_DATABASE_URL="+e.dbURL,
		"SOCIALOPS_ENCRYPTION_KEY="+soakRandomB64(32),
		"SOCIALOPS_JWT_SECRET="+soakRandomB64(48),
		"SOCIALOPS_LOG_LEVEL=warn",
	)
	e.bot = newSoakBotAPI(t)
	for i := 1; i <= servers; i++ {
		addr := soakFreeAddr(t)
		e.slots = append(e.slots, &soakSlot{n: i, addr: addr, base: "http://" + addr})
	}
	e.base = e.slots[0].base
	e.srvEnv = append(append([]string{}, e.cliEnv...),
		"SOCIALOPS_LOG_LEVEL=info",
		// Several servers on one machine: no metrics listener to share.
		"SOCIALOPS_METRICS_ADDR=",
		"SOCIALOPS_TELEGRAM_API_URL="+e.bot.srv.URL,
		"SOCIALOPS_DELIVERY_BACKOFF=50ms",
		"SOCIALOPS_DELIVERY_STUCK_AFTER=2s",
		"SOCIALOPS_DELIVERY_SWEEP_INTERVAL=500ms",
		"SOCIALOPS_DELIVERY_TIMEOUT=2s",
		// High enough that the per-key limiter never rejects the soak's load.
		"SOCIALOPS_RATE_LIMIT_RPS=100000",
		"SOCIALOPS_RATE_LIMIT_BURST=100000",
		// The soak's deliberate bad signatures all come from 127.0.0.1 and
		// must keep answering 401, not the failed-authentication 429.
		"SOCIALOPS_AUTH_FAILURE_PER_MINUTE=0",
	)

	// 3. Configuration through the CLI.
	require.Equal(t, soakAlias, strings.TrimSpace(e.cli("instance", "create", "--owner", soakOwner, "--alias", soakAlias)))
	e.apiKey = strings.TrimSpace(e.cli("apikey", "create", "--owner", soakOwner, "--scopes", "socialops:write,socialops:read,socialops:audit"))
	require.True(t, strings.HasPrefix(e.apiKey, "sk_"), e.apiKey)
	e.secrets = map[string]string{
		"telegram":        "tg-" + soakRandomHex(16),
		"github":          "gh-" + soakRandomHex(16),
		"generic-webhook": "gen-" + soakRandomHex(16),
	}
	for p, s := range e.secrets {
		e.cli("webhook-secret", "set", "--alias", soakAlias, "--provider", p, "--secret", s)
	}
	e.cli("wallet", "credit", "--owner", soakOwner, "--micro-usd", "100000000", "--note", "soak")
	tokenFile := filepath.Join(tmp, "bot-token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(soakBotToken+"\n"), 0o600))
	account := strings.TrimSpace(e.cli("account", "create", "--owner", soakOwner, "--provider", "telegram-bot", "--token-file", tokenFile))
	require.True(t, strings.HasPrefix(account, "conn_"), account)
	e.token = strings.TrimSpace(e.cli("token", "mint", "--user", soakOwner, "--permissions", "service:read,service:manage", "--ttl", "2h"))

	e.pool, err = pgxpool.New(context.Background(), e.dbURL)
	require.NoError(t, err)
	t.Cleanup(e.pool.Close)

	// 4. The servers, then the channels of the bound chats (console API).
	for _, slot := range e.slots {
		e.startServer(slot)
	}
	t.Cleanup(func() {
		for _, s := range e.takeServers() {
			e.stopServer(s, syscall.SIGTERM)
		}
	})
	for i, chat := range soakBoundChats {
		body := fmt.Sprintf(`{"provider":"telegram","connected_account_id":%q,"channel_name":"Soak chat %d","external_channel_id":"%d","parse_mode":"HTML"}`, account, i, chat)
		st, resp := e.console("POST", "/console/socialops/"+soakAlias+"/channels", body, nil)
		require.Equal(t, 201, st, "create channel: %s", resp)
	}
	// Operators online with no capacity limit: routing (a follower role that
	// fails over like the others) assigns every session during the run.
	for i := 0; i < soakOperators; i++ {
		id := strings.TrimSpace(e.cli("operator", "create", "--alias", soakAlias, "--name", fmt.Sprintf("Soak agent %d", i), "--capacity", "0"))
		req, err := http.NewRequest(http.MethodPatch, e.base+"/v1/apps/socialops/"+soakAlias+"/operators/"+id, strings.NewReader(`{"presence":"online"}`))
		require.NoError(t, err)
		req.Header.Set("X-API-Key", e.apiKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode, "operator %s online: %s", id, b)
	}
	return e
}

// soakOperators are the operators routing assigns the soak's sessions to.
const soakOperators = 4

func soakFreeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

func soakRandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}

// localpg runs the cluster script on the soak's own port and folder.
func (e *soakEnv) localpg(args ...string) string {
	e.t.Helper()
	out, err := e.localpgErr(args...)
	require.NoError(e.t, err)
	return out
}

// localpgErr may run outside the test goroutine.
func (e *soakEnv) localpgErr(args ...string) (string, error) {
	cmd := exec.Command("bash", append([]string{e.script}, args...)...)
	cmd.Env = append(soakBaseEnv(), "SOCIALOPS_LOCAL_PG_PORT="+soakPGPort, "SOCIALOPS_LOCAL_PG_DIR="+filepath.Join(e.root, ".data", "soak-pg"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("localpg.sh %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// cli runs an admin sub-command of the built binary and returns its stdout.
func (e *soakEnv) cli(args ...string) string {
	e.t.Helper()
	out, errOut, code := e.cliCode(args...)
	require.Equal(e.t, 0, code, "socialops %s: %s", strings.Join(args, " "), errOut)
	return out
}

func (e *soakEnv) cliCode(args ...string) (stdout, stderr string, code int) {
	cmd := exec.Command(e.bin, args...)
	cmd.Env = e.cliEnv
	var o, s bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &s
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		code = -1
		s.WriteString(err.Error())
	}
	return o.String(), s.String(), code
}

// pickBase is where the next request goes: the slots in turn, as a load
// balancer would spread them (a killed server's requests fail over on retry).
func (e *soakEnv) pickBase() string {
	return e.slots[int(e.rr.Add(1)%uint64(len(e.slots)))].base
}

// takeServers detaches every running server, for a final stop.
func (e *soakEnv) takeServers() []*soakServer {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []*soakServer
	for _, slot := range e.slots {
		if slot.srv != nil {
			out = append(out, slot.srv)
			slot.srv = nil
		}
	}
	return out
}

// startServer starts `socialops serve` in a slot and waits for /healthz.
func (e *soakEnv) startServer(slot *soakSlot) {
	e.mu.Lock()
	defer e.mu.Unlock()
	require.NoError(e.t, e.startServerLocked(slot))
}

// startServerLocked may run outside the test goroutine: it returns errors.
func (e *soakEnv) startServerLocked(slot *soakSlot) error {
	e.started++
	s := &soakServer{n: e.started, slot: slot, done: make(chan struct{}), logPath: filepath.Join(e.logDir, fmt.Sprintf("server-%d.log", e.started))}
	f, err := os.Create(s.logPath)
	if err != nil {
		return err
	}
	s.cmd = exec.Command(e.bin, "serve")
	s.cmd.Env = append(append([]string{}, e.srvEnv...), "SOCIALOPS_HTTP_ADDR="+slot.addr)
	s.cmd.Stdout, s.cmd.Stderr = f, f
	if err := s.cmd.Start(); err != nil {
		return err
	}
	go func() {
		s.err = s.cmd.Wait()
		_ = f.Close()
		close(s.done)
		if !s.stopping.Load() {
			e.serverDied(s)
		}
	}()
	slot.srv = s
	deadline := time.Now().Add(60 * time.Second)
	client := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-s.done:
			return fmt.Errorf("server %d exited while starting (code %d); log %s:\n%s", s.n, s.exitCode(), s.logPath, soakTail(s.logPath, 30))
		default:
		}
		resp, err := client.Get(slot.base + "/healthz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server %d did not answer /healthz within 60s: %v", s.n, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// serverDied records an exit nobody asked for, and starts a new server so the
// run can go on and show everything else.
func (e *soakEnv) serverDied(s *soakServer) {
	e.mu.Lock()
	defer e.mu.Unlock()
	msg := fmt.Sprintf("server %d exited by itself with code %d (log %s):\n%s", s.n, s.exitCode(), s.logPath, soakTail(s.logPath, 20))
	e.unexpected = append(e.unexpected, msg)
	e.t.Log(msg)
	if s.slot.srv == s {
		if err := e.startServerLocked(s.slot); err != nil {
			e.unexpected = append(e.unexpected, "restarting it failed: "+err.Error())
		}
	}
}

// stopServer signals the server and waits for it to exit; it returns the exit code.
func (e *soakEnv) stopServer(s *soakServer, sig syscall.Signal) int {
	s.stopping.Store(true)
	_ = s.cmd.Process.Signal(sig)
	select {
	case <-s.done:
	case <-time.After(45 * time.Second):
		e.t.Errorf("server %d did not exit within 45s of %v; killing it", s.n, sig)
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	return s.exitCode()
}

// restartServer stops a slot's server with sig and starts a new one there;
// it returns the old server's exit code and how long the slot was away.
func (e *soakEnv) restartServer(slot *soakSlot, sig syscall.Signal) (code int, away time.Duration, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	start := time.Now()
	code = e.stopServer(slot.srv, sig)
	err = e.startServerLocked(slot)
	return code, time.Since(start), err
}

// waitReady polls every slot's /readyz until all answer 200.
func (e *soakEnv) waitReady(within time.Duration) (time.Duration, error) {
	start := time.Now()
	client := &http.Client{Timeout: 3 * time.Second}
	for _, slot := range e.slots {
		var last string
		for {
			resp, err := client.Get(slot.base + "/readyz")
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
				last = fmt.Sprintf("%d %s", resp.StatusCode, b)
			} else {
				last = err.Error()
			}
			if time.Since(start) > within {
				return time.Since(start), fmt.Errorf("server slot %d: /readyz not 200 after %s: %s", slot.n, within, last)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return time.Since(start), nil
}

// console sends one console request and returns the status and body.
func (e *soakEnv) console(method, path, body string, header map[string]string) (int, []byte) {
	req, err := http.NewRequest(method, e.base+path, strings.NewReader(body))
	require.NoError(e.t, err)
	req.Header.Set("Authorization", "Bearer "+e.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func soakTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// soakLogDigest counts the servers' warn/error log lines by message, with one
// example of each, for the report.
func (e *soakEnv) soakLogDigest() []string {
	type seen struct {
		n       int
		example string
	}
	counts := map[string]*seen{}
	files, _ := filepath.Glob(filepath.Join(e.logDir, "server-*.log"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) != nil {
				if strings.TrimSpace(line) != "" && !strings.HasPrefix(line, "{") {
					k := "non-JSON: " + soakCut(line, 120)
					if counts[k] == nil {
						counts[k] = &seen{example: filepath.Base(f) + ": " + soakCut(line, 400)}
					}
					counts[k].n++
				}
				continue
			}
			level, _ := rec["level"].(string)
			if level != "WARN" && level != "ERROR" {
				continue
			}
			msg, _ := rec["msg"].(string)
			k := level + " " + msg
			if route, ok := rec["route"].(string); ok {
				k += fmt.Sprintf(" route=%s status=%v code=%v", route, rec["status"], rec["error_code"])
			}
			if counts[k] == nil {
				counts[k] = &seen{example: filepath.Base(f) + ": " + soakCut(line, 400)}
			}
			counts[k].n++
		}
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return counts[keys[i]].n > counts[keys[j]].n })
	var out []string
	for _, k := range keys {
		out = append(out, fmt.Sprintf("%6d × %s\n         e.g. %s", counts[k].n, k, counts[k].example))
	}
	return out
}

func soakCut(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// The local Bot API: records every sendMessage and answers ok most of the
// time, 429 (retry_after 0 or 1) or 500 otherwise.

const soakBotToken = "777000222:AAF-soakTokenForTheLocalBotApi_0123456789"

type soakSend struct {
	ChatID string
	Text   string
	Status int
}

type soakBotAPI struct {
	srv      *httptest.Server
	mu       sync.Mutex
	rng      *mrand.Rand
	calls    []soakSend
	byStatus map[int]int
	nextID   int
}

func newSoakBotAPI(t *testing.T) *soakBotAPI {
	b := &soakBotAPI{rng: mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 7)), byStatus: map[int]int{}, nextID: 5000}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		tok, method, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/bot"), "/")
		if !ok || method != "sendMessage" || r.Method != http.MethodPost {
			w.WriteHeader(404)
			_, _ = io.WriteString(w, `{"ok":false,"error_code":404,"description":"Not Found"}`)
			return
		}
		if tok != soakBotToken {
			w.WriteHeader(401)
			_, _ = io.WriteString(w, `{"ok":false,"error_code":401,"description":"Unauthorized"}`)
			return
		}
		var req struct {
			ChatID json.RawMessage `json:"chat_id"`
			Text   string          `json:"text"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			w.WriteHeader(400)
			_, _ = io.WriteString(w, `{"ok":false,"error_code":400,"description":"Bad Request: invalid JSON"}`)
			return
		}
		chat := strings.Trim(string(req.ChatID), `"`)
		b.mu.Lock()
		status, body := 200, ""
		switch x := b.rng.Float64(); {
		case x < 0.06:
			after := b.rng.IntN(2)
			status = 429
			body = fmt.Sprintf(`{"ok":false,"error_code":429,"description":"Too Many Requests: retry after %d","parameters":{"retry_after":%d}}`, after, after)
		case x < 0.13:
			status = 500
			body = `{"ok":false,"error_code":500,"description":"Internal Server Error"}`
		default:
			b.nextID++
			body = fmt.Sprintf(`{"ok":true,"result":{"message_id":%d,"date":%d,"chat":{"id":%s,"type":"supergroup"},"text":%q}}`, b.nextID, time.Now().Unix(), chat, req.Text)
		}
		b.calls = append(b.calls, soakSend{ChatID: chat, Text: req.Text, Status: status})
		b.byStatus[status]++
		b.mu.Unlock()
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *soakBotAPI) sent() []soakSend {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]soakSend(nil), b.calls...)
}

// checkpoints reads every projector's and follower's checkpoint (none when
// the database does not answer within a few seconds).
func (e *soakEnv) checkpoints() map[string]int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, e.dbURL)
	if err != nil {
		return nil
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, `SELECT projector, position FROM projection_checkpoints`)
	if err != nil {
		return nil
	}
	out := map[string]int64{}
	for rows.Next() {
		var name string
		var pos int64
		if rows.Scan(&name, &pos) == nil {
			out[name] = pos
		}
	}
	return out
}

// takenBack names the checkpoints that stand lower in after than in before,
// and by how many positions.
func takenBack(before, after map[string]int64) string {
	if before == nil || after == nil {
		return "unknown (a read failed)"
	}
	var back []string
	for name, pos := range before {
		if now, ok := after[name]; ok && now < pos {
			back = append(back, fmt.Sprintf("%s −%d", name, pos-now))
		}
	}
	if len(back) == 0 {
		return "none"
	}
	sort.Strings(back)
	return strings.Join(back, ", ")
}

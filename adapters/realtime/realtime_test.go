package realtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	pgstore "github.com/socialops/socialops/adapters/eventstore/postgres"
	"github.com/socialops/socialops/adapters/postgres/pgtest"
	"github.com/socialops/socialops/adapters/realtime"
	"github.com/socialops/socialops/domain"
)

var inst = domain.Instance{ID: "inst_rt", Alias: "rt", OwnerID: "alice"}

// env is a hub over a fresh Postgres event log, served without auth (the
// HTTP layer's auth is tested in adapters/http).
type env struct {
	t     *testing.T
	store *pgstore.Store
	reg   *domain.Registry
	pool  *pgxpool.Pool
	hubs  []*realtime.Hub
}

func newEnv(t *testing.T) *env {
	pool := pgtest.NewPool(t)
	store := pgstore.New(pool, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(func() { _ = store.Close() })
	return &env{t: t, store: store, reg: domain.NewEventRegistry(), pool: pool}
}

// server runs a hub (one "process") and serves it: ?proto=cs&op=7&since=N.
func (e *env) server(opts realtime.Options) (*realtime.Hub, *httptest.Server) {
	opts.Registry = e.reg
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	hub := realtime.New(e.store, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = hub.Run(ctx); close(done) }()
	<-hub.Ready()
	e.hubs = append(e.hubs, hub)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		cl := realtime.Client{Instance: inst, Protocol: q.Get("proto")}
		cl.OperatorID, _ = strconv.ParseInt(q.Get("op"), 10, 64)
		if s := q.Get("since"); s != "" {
			cl.Since, _ = strconv.ParseUint(s, 10, 64)
			cl.Resume = true
		}
		hub.Serve(w, r, cl)
	}))
	e.t.Cleanup(func() {
		hub.Close(context.Background())
		srv.Close()
		cancel()
		<-done
	})
	return hub, srv
}

func (e *env) append(thread string, events ...domain.Event) uint64 {
	e.t.Helper()
	var pes []domain.ProposedEvent
	for _, ev := range events {
		pe, err := e.reg.Encode(ev, domain.Metadata{EventID: uuid.NewString(), OccurredAt: time.Now(),
			InstanceAlias: inst.Alias})
		require.NoError(e.t, err)
		pes = append(pes, pe)
	}
	res, err := e.store.Append(context.Background(), domain.ThreadStream(thread), domain.AnyRevision(), pes...)
	require.NoError(e.t, err)
	return res.Position
}

// openThread opens a thread and waits until every hub has fanned it out,
// so a client connected next does not receive it as a live push.
func (e *env) openThread(id string) {
	pos := e.append(id, domain.ThreadOpened{ThreadID: id, InstanceID: inst.ID, OwnerID: inst.OwnerID, InstanceAlias: inst.Alias,
		Provider: "generic-webhook", ExternalThreadID: "x-" + id, Subject: "s", Status: "open", Priority: "normal", ContactID: "socus_1"})
	for _, hub := range e.hubs {
		require.Eventually(e.t, func() bool { return hub.Position() >= pos }, 5*time.Second, 5*time.Millisecond)
	}
}

func dial(t *testing.T, srv *httptest.Server, query string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/?"+query, nil)
	require.NoError(t, err)
	c.SetReadLimit(1 << 20)
	return c
}

func read(t *testing.T, c *websocket.Conn) map[string]any {
	t.Helper()
	m, err := readOrClose(c)
	require.NoError(t, err)
	return m
}

// readOrClose reads one frame, or returns the error that ended the
// connection (a websocket.CloseError when the server closed it).
func readOrClose(c *websocket.Conn) (map[string]any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, b, err := c.Read(ctx)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: %s", err, b)
	}
	m["_raw"] = string(b)
	return m, nil
}

// seed003 is the seed's schemas (the copy the seed-003 face tests use), with
// channelType open to SocialOps' provider names as the shipped document says.
var seed003 = sync.OnceValues(func() (*openapi3.T, error) {
	raw, err := os.ReadFile("../http/cs/testdata/seed003-openapi.yaml")
	if err != nil {
		return nil, err
	}
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		return nil, err
	}
	doc.Components.Schemas["SessionInfo"].Value.Properties["channelType"].Value.Enum =
		append(doc.Components.Schemas["SessionInfo"].Value.Properties["channelType"].Value.Enum, "generic-webhook")
	return doc, nil
})

func validSeed003(t *testing.T, schema string, v any) {
	t.Helper()
	doc, err := seed003()
	require.NoError(t, err)
	require.NoError(t, doc.Components.Schemas[schema].Value.VisitJSON(v), "%s: %v", schema, v)
}

func TestSeed003PushShapes(t *testing.T) {
	e := newEnv(t)
	_, srv := e.server(realtime.Options{})
	e.openThread("soth_a")
	e.openThread("soth_b")
	mine := dial(t, srv, "proto=cs&op=7")
	defer mine.CloseNow()
	other := dial(t, srv, "proto=cs&op=8")
	defer other.CloseNow()
	assert.Equal(t, "connected", read(t, mine)["type"])
	assert.Equal(t, "connected", read(t, other)["type"])

	p1 := e.append("soth_a", domain.SessionQueued{ThreadID: "soth_a", InstanceID: inst.ID, Reason: domain.SessionReasonOpened})
	p2 := e.append("soth_a", domain.SessionAssigned{ThreadID: "soth_a", InstanceID: inst.ID, OperatorID: 7})
	e.append("soth_x", domain.SessionQueued{ThreadID: "soth_x", InstanceID: "inst_other"}) // another instance
	p3 := e.append("soth_a", domain.InboundMessageReceived{ThreadID: "soth_a", MessageID: "somsg_1", Provider: "generic-webhook",
		MessageType: "text", Text: "hello <b>", ContactID: "socus_1"})
	e.append("soth_b", domain.InboundMessageReceived{ThreadID: "soth_b", MessageID: "somsg_2", Text: "not for 7"})
	p4 := e.append("soth_a", domain.SessionClosed{ThreadID: "soth_a", InstanceID: inst.ID, OperatorID: 7, Reason: domain.SessionReasonClosed})

	want := []struct {
		typ    string
		pos    uint64
		schema string
	}{{realtime.TypeNewPendingSession, p1, "SessionInfo"}, {realtime.TypeSessionAccepted, p2, "SessionInfo"},
		{realtime.TypeNewMessage, p3, "MessageInfo"}, {realtime.TypeSessionClosed, p4, "SessionInfo"}}
	for _, w := range want {
		m := read(t, mine)
		require.Equal(t, w.typ, m["type"], m["_raw"])
		assert.Equal(t, float64(w.pos), m["position"])
		assert.Equal(t, "soth_a", m["sessionId"])
		validSeed003(t, w.schema, m["data"])
		if w.typ == realtime.TypeNewMessage {
			assert.Contains(t, m["_raw"], `"content":"hello <b>"`, "no HTML escaping")
		}
	}
	// Operator 8 sees the pending session only; then binds soth_b and gets its messages.
	m := read(t, other)
	assert.Equal(t, realtime.TypeNewPendingSession, m["type"])
	require.NoError(t, other.Write(context.Background(), websocket.MessageText, []byte(`{"type":"bind_session","sessionId":"soth_b"}`)))
	assert.Equal(t, "session_bound", read(t, other)["type"])
	p5 := e.append("soth_b", domain.InboundMessageReceived{ThreadID: "soth_b", MessageID: "somsg_3", Text: "bound"})
	m = read(t, other)
	assert.Equal(t, realtime.TypeNewMessage, m["type"], m["_raw"])
	assert.Equal(t, float64(p5), m["position"])
	assert.Equal(t, "bound", m["data"].(map[string]any)["content"])
}

func TestSeed002Protocol(t *testing.T) {
	e := newEnv(t)
	_, srv := e.server(realtime.Options{})
	e.openThread("soth_a")
	c := dial(t, srv, "proto=events")
	defer c.CloseNow()
	read(t, c)
	p1 := e.append("soth_a", domain.InboundMessageReceived{ThreadID: "soth_a", MessageID: "somsg_1", Text: "hi", ContactID: "socus_1"})
	changed := time.Now()
	pe, err := e.reg.Encode(domain.OperatorPresenceChanged{InstanceID: inst.ID, OperatorID: 3, From: "offline", To: "online"},
		domain.Metadata{EventID: uuid.NewString(), OccurredAt: changed})
	require.NoError(t, err)
	res, err := e.store.Append(context.Background(), domain.RosterStream(inst.ID), domain.AnyRevision(), pe)
	require.NoError(t, err)

	m := read(t, c)
	assert.Equal(t, "message", m["type"])
	assert.Equal(t, "receive", m["action"])
	assert.Equal(t, float64(p1), m["position"])
	d := m["data"].(map[string]any)
	assert.Equal(t, "socus_1", d["from"])
	assert.Equal(t, "hi", d["content"])
	assert.IsType(t, float64(0), d["timestamp"])
	m = read(t, c)
	assert.Equal(t, "event", m["type"])
	assert.Equal(t, "status_change", m["action"])
	assert.Equal(t, float64(res.Position), m["position"])
	// The change's own time (the message's may fall in the second before).
	assert.Equal(t, map[string]any{"agent_id": "3", "status": "online", "timestamp": float64(changed.Unix())}, m["data"])

	require.NoError(t, c.Write(context.Background(), websocket.MessageText, []byte(`{"type":"ping"}`)))
	assert.Equal(t, "pong", read(t, c)["type"])
}

// TestResumeExactlyOnce: 1,000 events appended while the client is killed
// three times (the last time resuming on a second server process) arrive
// once each, in order.
func TestResumeExactlyOnce(t *testing.T) {
	e := newEnv(t)
	_, srv1 := e.server(realtime.Options{})
	_, srv2 := e.server(realtime.Options{})
	e.openThread("soth_a")
	c := dial(t, srv1, "proto=events")
	first := read(t, c)
	require.Equal(t, "connected", first["type"])
	// The appends start once the client is connected: an event the hub fans
	// out before the welcome frame's position is not the client's to receive.
	want := make(chan uint64, 1000)
	go func() {
		for i := 0; i < 1000; i++ {
			want <- e.append("soth_a", domain.InboundMessageReceived{ThreadID: "soth_a", MessageID: fmt.Sprintf("m%d", i), Text: "x"})
		}
		close(want)
	}()
	var got []uint64
	last := uint64(first["position"].(float64))
	srv := srv1
	slowCloses := 0
	// isSlowClose: the appends outran this reader (a busy machine) and the
	// server dropped it as a slow consumer. The client resumes from the last
	// position it received, so the check below still sees every event once.
	isSlowClose := func(err error) bool {
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.StatusPolicyViolation {
			return false
		}
		require.Contains(t, ce.Reason, "slow consumer")
		slowCloses++
		require.Less(t, slowCloses, 50, "dropped as a slow consumer again and again")
		return true
	}
	// reconnect resumes from last, as a client does, on srv.
	reconnect := func() {
		for {
			c = dial(t, srv, "proto=events&since="+strconv.FormatUint(last, 10))
			m, err := readOrClose(c)
			if isSlowClose(err) {
				continue
			}
			require.NoError(t, err)
			require.Equal(t, "connected", m["type"])
			return
		}
	}
	for round := 0; round < 4; round++ {
		for n := 0; n < 150 || round == 3; n++ {
			if round == 3 && len(got) >= 1000 {
				break
			}
			m, err := readOrClose(c)
			if isSlowClose(err) {
				reconnect() // still exactly once
				continue
			}
			require.NoError(t, err)
			if m["type"] != "message" {
				continue
			}
			last = uint64(m["position"].(float64))
			got = append(got, last)
		}
		if round == 3 {
			break
		}
		_ = c.CloseNow() // killed: no close handshake
		time.Sleep(30 * time.Millisecond)
		if round == 2 {
			srv = srv2
		}
		reconnect()
	}
	defer c.CloseNow()
	var all []uint64
	for p := range want {
		all = append(all, p)
	}
	require.Len(t, got, 1000)
	assert.Equal(t, all, got, "every event once, in order")
	t.Logf("slow-consumer closes followed: %d", slowCloses)
}

func TestResyncRequired(t *testing.T) {
	e := newEnv(t)
	_, srv := e.server(realtime.Options{MaxReplay: 5})
	e.openThread("soth_a")
	for i := 0; i < 10; i++ {
		e.append("soth_a", domain.InboundMessageReceived{ThreadID: "soth_a", MessageID: fmt.Sprint(i), Text: "x"})
	}
	c := dial(t, srv, "proto=events&since=1")
	defer c.CloseNow()
	m := read(t, c)
	assert.Equal(t, "resync_required", m["type"])
	c2 := dial(t, srv, "proto=events&since=999999")
	defer c2.CloseNow()
	m = read(t, c2)
	assert.Equal(t, "resync_required", m["type"])
	assert.Contains(t, m["reason"], "ahead")
}

func TestSlowClientDisconnectedFastOnesServed(t *testing.T) {
	e := newEnv(t)
	_, srv := e.server(realtime.Options{QueueSize: 256})
	e.openThread("soth_a")
	slow := dial(t, srv, "proto=events")
	defer slow.CloseNow()
	fast := dial(t, srv, "proto=events")
	defer fast.CloseNow()
	read(t, fast)
	big := strings.Repeat("x", 16<<10)
	const n = 800 // 12 MiB: more than the socket buffers hold
	appended := make(chan struct{})
	defer func() { <-appended }()
	go func() {
		defer close(appended)
		for i := 0; i < n; i += 20 {
			var evs []domain.Event
			for j := i; j < i+20; j++ {
				evs = append(evs, domain.InboundMessageReceived{ThreadID: "soth_a", MessageID: fmt.Sprint(j), Text: big})
			}
			e.append("soth_a", evs...)
		}
	}()
	start := time.Now()
	for i := 0; i < n; i++ {
		assert.Equal(t, "message", read(t, fast)["type"])
	}
	t.Logf("fast client got %d pushes in %s", n, time.Since(start))
	// The slow one now reads: what was sent, then the close with its reason.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var err error
	for err == nil {
		_, _, err = slow.Read(ctx)
	}
	var ce websocket.CloseError
	require.True(t, errors.As(err, &ce), "a close frame, not %v", err)
	assert.Equal(t, websocket.StatusPolicyViolation, ce.Code)
	assert.Contains(t, ce.Reason, "slow consumer")
	assert.Contains(t, ce.Reason, "since=")
}

type gauge struct {
	mu sync.Mutex
	n  int
}

func (g *gauge) Connected()    { g.mu.Lock(); g.n++; g.mu.Unlock() }
func (g *gauge) Disconnected() { g.mu.Lock(); g.n--; g.mu.Unlock() }
func (g *gauge) value() int    { g.mu.Lock(); defer g.mu.Unlock(); return g.n }

func TestShutdownClosesWithGoingAway(t *testing.T) {
	e := newEnv(t)
	open := &gauge{}
	hub, srv := e.server(realtime.Options{Metrics: open})
	c := dial(t, srv, "proto=events")
	defer c.CloseNow()
	read(t, c)
	assert.Equal(t, 1, open.value())
	done := make(chan struct{})
	go func() { hub.Close(context.Background()); close(done) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _, err := c.Read(ctx)
	assert.Equal(t, websocket.StatusGoingAway, websocket.CloseStatus(err), "%v", err)
	<-done
	assert.Equal(t, 0, open.value(), "the gauge follows")
	// A closed hub refuses new connections with 1001 too.
	c2 := dial(t, srv, "proto=events")
	defer c2.CloseNow()
	_, _, err = c2.Read(ctx)
	assert.Equal(t, websocket.StatusGoingAway, websocket.CloseStatus(err), "%v", err)
}

func TestKeepaliveClosesSilentClients(t *testing.T) {
	e := newEnv(t)
	// The pong timeout leaves a loaded machine room to answer (a 50 ms one
	// closed a reading client during a busy CI run); the pings stay frequent.
	_, srv := e.server(realtime.Options{PingInterval: 50 * time.Millisecond, PongTimeout: 500 * time.Millisecond})
	c := dial(t, srv, "proto=events")
	defer c.CloseNow()
	// A client that reads answers pings and stays connected.
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	read(t, c)
	_, _, err := c.Read(ctx)
	// The read ends at its deadline, not with a close from the server. When
	// the deadline closes the client's socket while it answers a ping, the
	// library reports the pong's failed write instead of the deadline, so the
	// test asks for the expired context and no close frame, not for the error.
	assert.Error(t, ctx.Err(), "still open after several pings: %v", err)
	assert.Equal(t, websocket.StatusCode(-1), websocket.CloseStatus(err), "no close from the server: %v", err)

	// One that never reads never answers a ping: closed with a reason.
	silent := dial(t, srv, "proto=events")
	defer silent.CloseNow()
	time.Sleep(700 * time.Millisecond)
	rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer rcancel()
	for err = nil; err == nil; {
		_, _, err = silent.Read(rctx)
	}
	var ce websocket.CloseError
	require.True(t, errors.As(err, &ce), "a close frame, not %v", err)
	assert.Equal(t, websocket.StatusPolicyViolation, ce.Code)
	assert.Contains(t, ce.Reason, "no pong")
}

func TestPresenceWithGracePeriod(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	var calls []string
	presence := func(_ context.Context, in domain.Instance, op int64, p string) error {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, fmt.Sprintf("%s/%d:%s", in.ID, op, p))
		return nil
	}
	seen := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), calls...)
	}
	_, srv := e.server(realtime.Options{Presence: presence, PresenceGrace: 300 * time.Millisecond})
	a := dial(t, srv, "proto=cs&op=7")
	read(t, a)
	b := dial(t, srv, "proto=cs&op=7")
	read(t, b)
	require.Eventually(t, func() bool { return len(seen()) == 1 }, 2*time.Second, 10*time.Millisecond)
	assert.Equal(t, []string{"inst_rt/7:online"}, seen(), "two connections, one online")
	require.NoError(t, a.Close(websocket.StatusNormalClosure, ""))
	require.NoError(t, b.Close(websocket.StatusNormalClosure, ""))
	time.Sleep(100 * time.Millisecond)
	c := dial(t, srv, "proto=cs&op=7") // back within the grace period: no flap
	read(t, c)
	time.Sleep(500 * time.Millisecond)
	assert.Equal(t, []string{"inst_rt/7:online"}, seen())
	require.NoError(t, c.Close(websocket.StatusNormalClosure, ""))
	require.Eventually(t, func() bool { return len(seen()) == 2 }, 3*time.Second, 20*time.Millisecond)
	assert.Equal(t, []string{"inst_rt/7:online", "inst_rt/7:offline"}, seen())
}

// The HTTP server's read and write timeouts (serve.go sets 30 s) must not
// end sockets that live longer.
func TestServerTimeoutsDoNotEndSockets(t *testing.T) {
	e := newEnv(t)
	hub := realtime.New(e.store, realtime.Options{Registry: e.reg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = hub.Run(ctx) }()
	<-hub.Ready()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hub.Serve(w, r, realtime.Client{Instance: inst, Protocol: realtime.ProtocolEvents})
	}))
	srv.Config.ReadTimeout, srv.Config.WriteTimeout = 100*time.Millisecond, 100*time.Millisecond
	srv.Start()
	defer srv.Close()
	defer hub.Close(context.Background())
	e.openThread("soth_a")
	c := dial(t, srv, "")
	defer c.CloseNow()
	read(t, c)
	time.Sleep(300 * time.Millisecond)
	p := e.append("soth_a", domain.InboundMessageReceived{ThreadID: "soth_a", MessageID: "m", Text: "late"})
	assert.Equal(t, float64(p), read(t, c)["position"])
}

// TestConsoleProtocol: the web console's socket gets a "changed" frame for
// every event of a thread of its instance (opened, messages, notes, status
// changes, deliveries) and nothing of another instance's threads.
func TestConsoleProtocol(t *testing.T) {
	e := newEnv(t)
	_, srv := e.server(realtime.Options{})
	c := dial(t, srv, "proto=console")
	defer c.CloseNow()
	assert.Equal(t, "connected", read(t, c)["type"])

	e.append("soth_other", domain.ThreadOpened{ThreadID: "soth_other", InstanceID: "soins_other", OwnerID: "u2", InstanceAlias: "other",
		Provider: "generic-webhook", ExternalThreadID: "x", Subject: "s", Status: "open", Priority: "normal"})
	p1 := e.append("soth_c", domain.ThreadOpened{ThreadID: "soth_c", InstanceID: inst.ID, OwnerID: inst.OwnerID, InstanceAlias: inst.Alias,
		Provider: "generic-webhook", ExternalThreadID: "x-c", Subject: "s", Status: "open", Priority: "normal", ContactID: "socus_1"})
	p2 := e.append("soth_c", domain.NoteAdded{ThreadID: "soth_c", MessageID: "somsg_n", Text: "note", AuthorID: "u"})
	p3 := e.append("soth_c", domain.ThreadPriorityChanged{ThreadID: "soth_c", From: "normal", To: "urgent"})
	for _, want := range []struct {
		pos   uint64
		event string
	}{{p1, "ThreadOpened"}, {p2, "NoteAdded"}, {p3, "ThreadPriorityChanged"}} {
		m := read(t, c)
		assert.Equal(t, "changed", m["type"], m["_raw"])
		assert.Equal(t, float64(want.pos), m["position"])
		assert.Equal(t, "soth_c", m["thread_id"])
		assert.Equal(t, want.event, m["event"])
	}
}

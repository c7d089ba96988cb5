// Package realtime pushes the event log to WebSocket clients (issue 12):
// one follower per process reads the log from its head and fans each event
// out to the connections of this process, each through a bounded queue. A
// client resuming with ?since=<position> is replayed what it missed from the
// log, then joins the live pushes: in order, exactly once. Operators with an
// open workbench are online; their last connection closing sets them offline
// after a grace period (STYLE.md: the Centrifugo notes).
package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/socialops/socialops/domain"
)

// Log is what the hub reads: the event store.
type Log interface {
	ReadAll(ctx context.Context, after uint64, count uint64) ([]domain.RecordedEvent, error)
	ReadStream(ctx context.Context, stream string, direction domain.ReadDirection, from uint64, count uint64) ([]domain.RecordedEvent, error)
	SubscribeAll(ctx context.Context, after uint64, handle func(context.Context, domain.RecordedEvent) error) error
	HeadPosition(ctx context.Context) (uint64, error)
}

// Presence sets an operator's presence (commands.ChangeOperator), so routing
// and agent.status_changed webhooks follow.
type Presence func(ctx context.Context, inst domain.Instance, operatorID int64, presence string) error

// Observer counts connections (metrics.WebSockets).
type Observer interface {
	Connected()
	Disconnected()
}

// Options tune the hub; zero values take the defaults.
type Options struct {
	Logger   *slog.Logger
	Registry *domain.Registry
	Presence Presence
	Metrics  Observer
	// QueueSize bounds each connection's queue (default 256 pushes); a
	// client that falls further behind is disconnected.
	QueueSize int
	// MaxReplay is the largest gap (in log positions) a resume replays
	// (default 1,000,000); beyond it the client is told resync_required.
	MaxReplay uint64
	// PingInterval and PongTimeout: keepalive (defaults 25 s and 10 s).
	PingInterval time.Duration
	PongTimeout  time.Duration
	// PresenceGrace is how long an operator stays online after their last
	// connection closed (default 15 s).
	PresenceGrace time.Duration
	// OriginPatterns are the browser origins allowed besides the server's own host.
	OriginPatterns []string
	// Peers shares connection counts with the other serving processes
	// (nil: this process decides presence alone).
	Peers Peers
	// PeerHeartbeat is how often this process refreshes its Peers rows and
	// expires stale ones (default 15 s); PeerStale is the age at which a row
	// counts as left behind by a dead process (default 60 s).
	PeerHeartbeat time.Duration
	PeerStale     time.Duration
}

// Close codes and reasons.
const (
	// StatusSlowConsumer closes a connection whose queue overflowed.
	StatusSlowConsumer = websocket.StatusPolicyViolation
	// StatusShutdown closes every connection when the server stops.
	StatusShutdown = websocket.StatusGoingAway
)

// Hub follows the log and fans out to this process's connections.
type Hub struct {
	log  Log
	opts Options

	mu       sync.Mutex
	position uint64 // last event fanned out
	started  bool
	closed   bool
	conns    map[*conn]struct{}
	presence map[presenceKey]*presenceState
	wg       sync.WaitGroup
	ready    chan struct{}

	chain   map[presenceKey]chan struct{} // orders each operator's presence appends
	process string                        // this process's name in Peers

	threadsMu sync.Mutex
	threads   map[string]threadFacts
}

type presenceKey struct {
	instanceID string
	operatorID int64
}

type presenceState struct {
	inst   domain.Instance
	count  int
	offAt  *time.Timer // pending offline, nil when none
	online bool
}

// New makes a hub; Run starts its follower.
func New(log Log, opts Options) *Hub {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Registry == nil {
		opts.Registry = domain.NewEventRegistry()
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 256
	}
	if opts.MaxReplay == 0 {
		opts.MaxReplay = 1_000_000
	}
	if opts.PingInterval <= 0 {
		opts.PingInterval = 25 * time.Second
	}
	if opts.PongTimeout <= 0 {
		opts.PongTimeout = 10 * time.Second
	}
	if opts.PresenceGrace <= 0 {
		opts.PresenceGrace = 15 * time.Second
	}
	if opts.PeerHeartbeat <= 0 {
		opts.PeerHeartbeat = 15 * time.Second
	}
	if opts.PeerStale <= 0 {
		opts.PeerStale = 60 * time.Second
	}
	return &Hub{log: log, opts: opts, conns: map[*conn]struct{}{}, presence: map[presenceKey]*presenceState{},
		threads: map[string]threadFacts{}, chain: map[presenceKey]chan struct{}{}, ready: make(chan struct{}),
		process: domain.RandomID("rtp_", domain.CryptoRandom)}
}

// Run follows the log from its head until ctx ends.
func (h *Hub) Run(ctx context.Context) error {
	head, err := h.log.HeadPosition(ctx)
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.position, h.started = head, true
	h.mu.Unlock()
	close(h.ready)
	if h.opts.Peers != nil {
		go h.tendPeers(ctx)
	}
	err = h.log.SubscribeAll(ctx, head, func(ctx context.Context, ev domain.RecordedEvent) error {
		h.fanOut(ctx, ev)
		return nil
	})
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// Ready is closed once the follower has its starting position.
func (h *Hub) Ready() <-chan struct{} { return h.ready }

// Position is the last position fanned out.
func (h *Hub) Position() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.position
}

func (h *Hub) fanOut(ctx context.Context, ev domain.RecordedEvent) {
	it, ok := h.describe(ctx, ev, true)
	h.mu.Lock()
	defer h.mu.Unlock()
	if ev.Position > h.position {
		h.position = ev.Position
	}
	if !ok {
		return
	}
	for c := range h.conns {
		if c.wants(&it) {
			c.enqueue(&it)
		}
	}
}

// describe decodes an event into an item. live events also update the
// thread index (who holds each session); replayed ones only read it.
func (h *Hub) describe(ctx context.Context, ev domain.RecordedEvent, live bool) (item, bool) {
	env, err := h.opts.Registry.Decode(ev)
	if err != nil {
		if !errors.Is(err, domain.ErrUnknownEventType) {
			h.opts.Logger.Warn("realtime: undecodable event skipped", "position", ev.Position, "error", err)
		}
		return item{}, false
	}
	var facts threadFacts
	id := threadOf(env.Payload)
	if id == "" {
		id = anyThreadOf(ev)
	}
	if id != "" {
		facts = h.thread(ctx, id, ev.Position)
		if live {
			facts = h.evolveThread(id, facts, env)
		}
	}
	it, ok := build(env, facts)
	if id != "" && facts.InstanceID != "" {
		if !ok {
			it, ok = item{Position: ev.Position, InstanceID: facts.InstanceID, InstanceAlias: facts.InstanceAlias, ThreadID: id}, true
		}
		it.Console = encode(ConsoleChange{Type: "changed", Position: ev.Position, ThreadID: id, Event: ev.Type})
	}
	return it, ok
}

// anyThreadOf names the thread of any event that says which (a thread_id in
// its data, or a thread stream): what the console protocol pushes.
func anyThreadOf(ev domain.RecordedEvent) string {
	if strings.HasPrefix(ev.StreamID, "thread-") {
		return strings.TrimPrefix(ev.StreamID, "thread-")
	}
	var probe struct {
		ThreadID string `json:"thread_id"`
	}
	if json.Unmarshal(ev.Data, &probe) == nil && strings.HasPrefix(probe.ThreadID, "soth_") {
		return probe.ThreadID
	}
	return ""
}

// thread returns what the hub knows of a thread, reading its stream once
// when it does not know it yet.
func (h *Hub) thread(ctx context.Context, id string, upTo uint64) threadFacts {
	h.threadsMu.Lock()
	f, ok := h.threads[id]
	h.threadsMu.Unlock()
	if ok {
		return f
	}
	t := domain.NewThread(id)
	from := domain.StreamStart
	for {
		evs, err := h.log.ReadStream(ctx, domain.ThreadStream(id), domain.Forwards, from, 500)
		if err != nil {
			break
		}
		for _, re := range evs {
			if env, err := h.opts.Registry.Decode(re); err == nil {
				t = domain.EvolveThread(t, env)
			}
		}
		if len(evs) < 500 {
			break
		}
		from = evs[len(evs)-1].Revision + 1
	}
	f = threadFacts{InstanceID: t.InstanceID, InstanceAlias: t.InstanceAlias, CustomerID: t.ContactID, Provider: t.Provider}
	if t.SessionStatus() == domain.StateManual {
		f.Holder = t.SessionOperator
	}
	if f.InstanceID == "" {
		// No such thread yet (an event naming it came first, such as the
		// claim of its first inbound event): nothing to keep.
		return f
	}
	h.threadsMu.Lock()
	if len(h.threads) > 100_000 {
		h.threads = map[string]threadFacts{}
	}
	h.threads[id] = f
	h.threadsMu.Unlock()
	return f
}

func (h *Hub) evolveThread(id string, f threadFacts, env domain.Envelope) threadFacts {
	switch p := env.Payload.(type) {
	case domain.SessionAssigned:
		f.Holder = p.OperatorID
	case domain.SessionAccepted:
		f.Holder = p.OperatorID
	case domain.SessionQueued, domain.SessionReopened, domain.SessionClosed:
		f.Holder = 0
	default:
		return f
	}
	h.threadsMu.Lock()
	h.threads[id] = f
	h.threadsMu.Unlock()
	return f
}

// register adds a connection and returns the position its live pushes start after.
func (h *Hub) register(c *conn) (uint64, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return 0, false
	}
	h.conns[c] = struct{}{}
	h.wg.Add(1)
	if h.opts.Metrics != nil {
		h.opts.Metrics.Connected()
	}
	if c.operatorID != 0 {
		h.operatorConnected(c)
	}
	return h.position, true
}

func (h *Hub) unregister(c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.conns[c]; !ok {
		return
	}
	delete(h.conns, c)
	if h.opts.Metrics != nil {
		h.opts.Metrics.Disconnected()
	}
	if c.operatorID != 0 {
		h.operatorDisconnected(c)
	}
	h.wg.Done()
}

// Close closes every connection with 1001 (going away) and a reason, waits
// for them to end (or ctx), and sets their operators offline at once: the
// clients reconnect elsewhere and come online there.
func (h *Hub) Close(ctx context.Context) {
	h.mu.Lock()
	h.closed = true
	conns := make([]*conn, 0, len(h.conns))
	for c := range h.conns {
		conns = append(conns, c)
	}
	h.mu.Unlock()
	for _, c := range conns {
		c.shutdown(StatusShutdown, "server shutting down: reconnect with since=<last position>")
	}
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, st := range h.presence {
		if st.offAt != nil {
			st.offAt.Stop()
		}
		delete(h.presence, k)
		h.report(st.inst, k.operatorID, 0)
		if st.online {
			h.setPresence(st.inst, k.operatorID, domain.PresenceOffline)
		}
	}
}

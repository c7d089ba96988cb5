package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/socialops/socialops/domain"
)

// Client is an authenticated connection request.
type Client struct {
	Instance   domain.Instance
	Protocol   string // ProtocolCS, ProtocolEvents or ProtocolConsole
	OperatorID int64  // the workbench's operator (ProtocolCS)
	Since      uint64 // resume after this position (when Resume)
	Resume     bool
}

type conn struct {
	hub        *Hub
	ws         *websocket.Conn
	proto      string
	inst       domain.Instance
	operatorID int64

	queue chan *item
	stop  context.CancelFunc
	// resume carries a client's {"type":"resume"} to the push loop.
	resume chan uint64

	mu       sync.Mutex
	bound    map[string]bool
	overflow bool
	closing  bool
}

// wants tells whether an item is for this connection (called by the follower).
func (c *conn) wants(it *item) bool {
	if !it.instanceIs(c.inst.ID, c.inst.Alias) {
		return false
	}
	switch c.proto {
	case ProtocolEvents:
		return it.Events != nil
	case ProtocolConsole:
		return it.Console != nil
	}
	if it.CS == nil {
		return false
	}
	if it.Broadcast || (c.operatorID != 0 && it.Holder == c.operatorID) {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bound[it.ThreadID]
}

// enqueue never blocks: a full queue disconnects the client.
func (c *conn) enqueue(it *item) {
	select {
	case c.queue <- it:
	default:
		c.mu.Lock()
		first := !c.overflow
		c.overflow = true
		c.mu.Unlock()
		if first {
			c.stop()
		}
	}
}

// frame is an item's bytes for this connection's protocol.
func (c *conn) frame(it *item) []byte {
	switch c.proto {
	case ProtocolEvents:
		return it.Events
	case ProtocolConsole:
		return it.Console
	}
	return it.CS
}

// shutdown closes the socket with a code and reason (once).
func (c *conn) shutdown(code websocket.StatusCode, reason string) {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.closing = true
	c.mu.Unlock()
	c.stop()
	_ = c.ws.Close(code, reason)
}

// Serve upgrades the request and returns: the connection is served by two
// goroutines of its own (pushes and the client's frames) until the client
// goes away, so the handler's deep stack and the request are not kept for
// the life of every socket. The caller has authenticated cl.
func (h *Hub) Serve(w http.ResponseWriter, r *http.Request, cl Client) {
	// net/http clears the server's read and write deadlines when Accept
	// hijacks the connection (TestServerTimeoutsDoNotEndSockets).
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: h.opts.OriginPatterns})
	if err != nil {
		return // Accept answered the request (403 for a foreign origin)
	}
	ws.SetReadLimit(64 << 10)
	// ctx only signals the end: a context handed to the socket's own Read or
	// Write closes it without a close frame when canceled.
	ctx, stop := context.WithCancel(context.Background())
	c := &conn{hub: h, ws: ws, proto: cl.Protocol, inst: cl.Instance, operatorID: cl.OperatorID,
		queue: make(chan *item, h.opts.QueueSize), stop: stop, bound: map[string]bool{}, resume: make(chan uint64, 1)}
	live, ok := h.register(c)
	if !ok {
		stop()
		_ = ws.Close(StatusShutdown, "server shutting down")
		return
	}
	go c.readLoop()
	go c.serve(ctx, cl, live)
}

// serve pushes to the client until it goes away, then closes the socket
// with a code and a reason naming the position to resume from.
func (c *conn) serve(ctx context.Context, cl Client, live uint64) {
	defer c.hub.unregister(c)
	defer c.stop()
	last, err := c.start(ctx, cl, live)
	if err == nil {
		last, err = c.pushLive(ctx, last)
	}
	c.mu.Lock()
	overflow := c.overflow
	c.mu.Unlock()
	switch {
	case overflow:
		c.shutdown(StatusSlowConsumer, "slow consumer: reconnect with since="+strconv.FormatUint(last, 10))
	case err != nil && !errors.Is(err, context.Canceled):
		c.shutdown(websocket.StatusInternalError, "push failed: reconnect with since="+strconv.FormatUint(last, 10))
	default:
		c.shutdown(websocket.StatusNormalClosure, "")
	}
}

// start sends the welcome frame and, for a resume, replays the gap from the
// log. It returns the position the client has seen up to.
func (c *conn) start(ctx context.Context, cl Client, live uint64) (uint64, error) {
	if !cl.Resume {
		return live, c.write(ctx, encode(control{Type: "connected", Position: live}))
	}
	return c.replay(ctx, cl.Since, live, "connected")
}

// replay sends what the client missed after since (the connected frame of a
// ?since= connection, or the answer to a resume frame, is announced as typ),
// or resync_required when the log cannot replay that far. It returns the
// position the client has seen up to; queued pushes at or below it are skipped.
func (c *conn) replay(ctx context.Context, since, live uint64, typ string) (uint64, error) {
	h := c.hub
	head, err := h.log.HeadPosition(ctx)
	if err != nil {
		return live, err
	}
	if since > head || head-since > h.opts.MaxReplay {
		reason := "the position is older than the server replays"
		if since > head {
			reason = "the position is ahead of this event log"
		}
		return live, c.write(ctx, encode(control{Type: "resync_required", Position: live, Reason: reason}))
	}
	if err := c.write(ctx, encode(control{Type: typ, Position: since})); err != nil {
		return since, err
	}
	last := since
	for {
		evs, err := h.log.ReadAll(ctx, last, 500)
		if err != nil {
			return last, err
		}
		for _, ev := range evs {
			it, ok := h.describe(ctx, ev, false)
			if ok && c.wants(&it) {
				if err := c.write(ctx, c.frame(&it)); err != nil {
					return last, err
				}
			}
			last = ev.Position
		}
		if len(evs) < 500 {
			return last, nil
		}
	}
}

// pushLive sends queued pushes, skipping what the replay already sent, and
// pings every PingInterval (no goroutine of its own per idle connection).
func (c *conn) pushLive(ctx context.Context, last uint64) (uint64, error) {
	t := time.NewTicker(c.hub.opts.PingInterval)
	defer t.Stop()
	pinging := make(chan struct{}, 1)
	connected, pushed := last, false
	for {
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case since := <-c.resume:
			// A resume frame replays the gap before this connection, so it
			// must come before any push: a later one would repeat pushes.
			if pushed || last != connected {
				if err := c.write(ctx, encode(control{Type: "error", Position: last,
					Reason: "resume must be the first frame: reconnect with ?since=<position> instead"})); err != nil {
					return last, err
				}
				continue
			}
			var err error
			if last, err = c.replay(ctx, since, last, "resumed"); err != nil {
				return last, err
			}
			pushed = true
		case <-t.C:
			select {
			case pinging <- struct{}{}:
				go func() { c.ping(ctx); <-pinging }()
			default: // the last ping is still waiting for its pong
			}
		case it := <-c.queue:
			if it.Position <= last {
				continue
			}
			if err := c.write(ctx, c.frame(it)); err != nil {
				return last, err
			}
			last, pushed = it.Position, true
		}
	}
}

func (c *conn) write(_ context.Context, b []byte) error {
	wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.ws.Write(wctx, websocket.MessageText, b)
}

// clientFrame is what clients send: bind_session (seed 003), ping (seed 002),
// resume (either protocol: replay from position, as ?since= does).
type clientFrame struct {
	Type      string  `json:"type"`
	SessionID string  `json:"sessionId"`
	Position  *uint64 `json:"position"`
}

func (c *conn) readLoop() {
	defer c.stop()
	ctx := context.Background()
	for {
		_, b, err := c.ws.Read(ctx)
		if err != nil {
			return
		}
		var f clientFrame
		if json.Unmarshal(b, &f) != nil {
			_ = c.write(ctx, encode(control{Type: "error", Reason: "frames must be JSON objects with a type"}))
			continue
		}
		switch f.Type {
		case "ping":
			_ = c.write(ctx, []byte(`{"type":"pong"}`))
		case "resume":
			if f.Position == nil {
				_ = c.write(ctx, encode(control{Type: "error", Reason: "resume needs a position (the last one you received)"}))
				continue
			}
			select {
			case c.resume <- *f.Position:
			default:
				_ = c.write(ctx, encode(control{Type: "error", Reason: "a resume is already under way"}))
			}
		case "bind_session":
			if f.SessionID == "" || len(f.SessionID) > 128 {
				_ = c.write(ctx, encode(control{Type: "error", Reason: "bind_session needs a sessionId"}))
				continue
			}
			c.mu.Lock()
			if len(c.bound) < 1000 {
				c.bound[f.SessionID] = true
			}
			c.mu.Unlock()
			_ = c.write(ctx, encode(struct {
				Type      string `json:"type"`
				SessionID string `json:"sessionId"`
			}{"session_bound", f.SessionID}))
		default:
			_ = c.write(ctx, encode(control{Type: "error", Reason: "unknown type " + strconv.Quote(f.Type)}))
		}
	}
}

// ping closes the connection when no pong comes within PongTimeout.
func (c *conn) ping(ctx context.Context) {
	pctx, cancel := context.WithTimeout(context.Background(), c.hub.opts.PongTimeout)
	defer cancel()
	if err := c.ws.Ping(pctx); err != nil && ctx.Err() == nil {
		c.shutdown(websocket.StatusPolicyViolation, "no pong within "+c.hub.opts.PongTimeout.String())
	}
}

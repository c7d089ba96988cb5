package realtime_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/realtime"
	"github.com/socialops/socialops/domain"
)

func send(t *testing.T, c *websocket.Conn, frame string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, c.Write(ctx, websocket.MessageText, []byte(frame)))
}

// A client that reconnects without ?since= and sends {"type":"resume"} as its
// first frame receives what it missed, in order and once, then live pushes.
func TestResumeFrameReplaysTheGapOnce(t *testing.T) {
	e := newEnv(t)
	hub, srv := e.server(realtime.Options{})
	e.openThread("soth_a")
	seen := e.append("soth_a", domain.InboundMessageReceived{ThreadID: "soth_a", MessageID: "m0", Text: "x"})
	var missed []uint64
	for i := 1; i <= 20; i++ {
		missed = append(missed, e.append("soth_a", domain.InboundMessageReceived{ThreadID: "soth_a", MessageID: fmt.Sprint("m", i), Text: "x"}))
	}
	// The hub follows the log asynchronously: a connection made while it is
	// still behind would receive the last appends as live pushes before its
	// resume frame, and a resume after a push is refused by design (below).
	head := missed[len(missed)-1]
	require.Eventually(t, func() bool { return hub.Position() >= head }, 5*time.Second, 5*time.Millisecond)
	c := dial(t, srv, "proto=events")
	defer c.CloseNow()
	require.Equal(t, "connected", read(t, c)["type"])
	send(t, c, fmt.Sprintf(`{"type":"resume","position":%d}`, seen))
	m := read(t, c)
	require.Equal(t, "resumed", m["type"], m["_raw"])
	assert.EqualValues(t, seen, m["position"])
	var got []uint64
	for len(got) < len(missed) {
		m := read(t, c)
		require.Equal(t, "message", m["type"], m["_raw"])
		got = append(got, uint64(m["position"].(float64)))
	}
	assert.Equal(t, missed, got, "the gap, once, in order")
	live := e.append("soth_a", domain.InboundMessageReceived{ThreadID: "soth_a", MessageID: "live", Text: "x"})
	m = read(t, c)
	assert.EqualValues(t, live, m["position"], "then live pushes, nothing repeated")

	// A second resume would repeat pushes already sent: refused with a reason.
	send(t, c, fmt.Sprintf(`{"type":"resume","position":%d}`, seen))
	m = read(t, c)
	assert.Equal(t, "error", m["type"])
	assert.Contains(t, m["reason"], "since=")
}

func TestResumeFrameErrors(t *testing.T) {
	e := newEnv(t)
	hub, srv := e.server(realtime.Options{MaxReplay: 5})
	e.openThread("soth_a")
	var head uint64
	for i := 0; i < 10; i++ {
		head = e.append("soth_a", domain.InboundMessageReceived{ThreadID: "soth_a", MessageID: fmt.Sprint(i), Text: "x"})
	}
	// Connected once the hub has fanned the appends out, so no push of them
	// comes between the resume frames and their answers.
	require.Eventually(t, func() bool { return hub.Position() >= head }, 5*time.Second, 5*time.Millisecond)
	c := dial(t, srv, "proto=events")
	defer c.CloseNow()
	read(t, c)
	send(t, c, `{"type":"resume"}`)
	m := read(t, c)
	assert.Equal(t, "error", m["type"])
	assert.Contains(t, m["reason"], "position")
	send(t, c, `{"type":"resume","position":1}`)
	m = read(t, c)
	assert.Equal(t, "resync_required", m["type"], "older than the server replays")
}

package realtime_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/realtime"
	"github.com/socialops/socialops/domain"
)

type presenceCalls struct {
	mu    sync.Mutex
	calls []string
}

func (p *presenceCalls) set(_ context.Context, in domain.Instance, op int64, presence string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, fmt.Sprintf("%s/%d:%s", in.ID, op, presence))
	return nil
}

func (p *presenceCalls) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.calls...)
}

// An operator with a workbench on each of two processes stays online when
// one of them closes; the last one closing sets them offline.
func TestPresenceAcrossProcesses(t *testing.T) {
	e := newEnv(t)
	var calls presenceCalls
	opts := realtime.Options{Presence: calls.set, PresenceGrace: 200 * time.Millisecond,
		Peers: realtime.PostgresPeers{Pool: e.pool}}
	_, srv1 := e.server(opts)
	_, srv2 := e.server(opts)
	a := dial(t, srv1, "proto=cs&op=7")
	read(t, a)
	b := dial(t, srv2, "proto=cs&op=7")
	read(t, b)
	require.Eventually(t, func() bool { return len(calls.seen()) == 2 }, 3*time.Second, 10*time.Millisecond)
	assert.Equal(t, []string{"inst_rt/7:online", "inst_rt/7:online"}, calls.seen(), "each process sets online (a no-op the second time)")
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT count(*) FROM realtime_presence WHERE operator_id = 7`).Scan(&n))
		return n == 2
	}, 3*time.Second, 10*time.Millisecond, "both processes share their connection")

	require.NoError(t, a.Close(websocket.StatusNormalClosure, ""))
	time.Sleep(700 * time.Millisecond) // well past the grace period
	assert.Len(t, calls.seen(), 2, "still connected to the other process: not offline")

	require.NoError(t, b.Close(websocket.StatusNormalClosure, ""))
	require.Eventually(t, func() bool { return len(calls.seen()) == 3 }, 3*time.Second, 20*time.Millisecond)
	assert.Equal(t, "inst_rt/7:offline", calls.seen()[2])
}

// A process killed without a graceful stop leaves its rows behind; another
// process expires them once stale and sets the operator offline.
func TestPresenceLeftByADeadProcessExpires(t *testing.T) {
	e := newEnv(t)
	var calls presenceCalls
	_, err := e.pool.Exec(context.Background(), `
INSERT INTO realtime_presence (process_id, instance_id, instance_alias, owner_id, operator_id, connections, seen_at)
VALUES ('rtp_dead', $1, $2, $3, 9, 1, now() - interval '2 minutes'),
       ('rtp_alive', $1, $2, $3, 10, 1, now())`, inst.ID, inst.Alias, inst.OwnerID)
	require.NoError(t, err)
	e.server(realtime.Options{Presence: calls.set, Peers: realtime.PostgresPeers{Pool: e.pool},
		PeerHeartbeat: 50 * time.Millisecond, PeerStale: time.Minute})
	require.Eventually(t, func() bool { return len(calls.seen()) == 1 }, 3*time.Second, 20*time.Millisecond)
	time.Sleep(200 * time.Millisecond)
	assert.Equal(t, []string{"inst_rt/9:offline"}, calls.seen(), "only the dead process's operator, once")
	var n int
	require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT count(*) FROM realtime_presence`).Scan(&n))
	assert.Equal(t, 1, n, "the fresh row stays")
}

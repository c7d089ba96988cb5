package deliveryworker_test

import (
	"context"
	"fmt"
	mrand "math/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/deliveryworker"
	"github.com/socialops/socialops/commands"
	"github.com/socialops/socialops/domain"
)

// TestRandomFailuresAndRestarts queues 500 replies while the Bot API fails at
// random and workers are killed and restarted at random, sometimes two at
// once. Every action must end completed or failed, no reply may be accepted
// by the Bot API twice, and the ledger invariant must hold.
func TestRandomFailuresAndRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("long randomized test")
	}
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := mrand.New(mrand.NewSource(seed))
	var rngMu sync.Mutex
	roll := func() int {
		rngMu.Lock()
		defer rngMu.Unlock()
		return rng.Intn(100)
	}

	e := newEnv(t)
	e.credit(1_000_000_000)
	const chats, perChat = 10, 50
	var threads []string
	for i := 0; i < chats; i++ {
		e.chat = fmt.Sprintf("-10099900%02d", i)
		e.channel(domain.ChannelActive)
		threads = append(threads, e.thread(domain.ProviderTelegram))
	}
	e.bot.setAnswer(func(_ int, c sendCall) (int, string) {
		switch r := roll(); {
		case r < 55:
			return 200, ""
		case r < 70:
			return 429, `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 0","parameters":{"retry_after":0}}`
		case r < 85:
			return 500, `{"ok":false,"error_code":500,"description":"Internal Server Error"}`
		case r < 92:
			return 400, `{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}`
		default:
			return 403, `{"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}`
		}
	})

	var actions []domain.ReplyQueued
	for i := 0; i < chats*perChat; i++ {
		actions = append(actions, e.reply(threads[i%chats], fmt.Sprintf("reply #%03d", i)))
	}

	// The send timeout is generous: a provider call that times out after
	// connecting ends as an unknown outcome (never sent again, refunded).
	opts := commands.DeliveryOptions{MaxAttempts: 4, SendTimeout: 2 * time.Second, Lease: 4 * time.Second, BaseBackoff: 5 * time.Millisecond}
	wopts := deliveryworker.Options{Concurrency: 16, SweepEvery: 50 * time.Millisecond, StuckAfter: 100 * time.Millisecond}
	// Chaos: workers come and go for a few seconds, killed mid-flight.
	deadline := time.Now().Add(4 * time.Second)
	for n := 0; time.Now().Before(deadline); n++ {
		stop := e.startWorker(e.manager(fmt.Sprint("chaos-", n), opts), wopts)
		var stop2 func()
		if roll() < 30 {
			stop2 = e.startWorker(e.manager(fmt.Sprint("chaos-b-", n), opts), wopts)
		}
		time.Sleep(time.Duration(100+roll()*3) * time.Millisecond)
		stop()
		if stop2 != nil {
			stop2()
		}
	}
	// Then one steady worker finishes the rest.
	e.startWorker(e.manager("steady", opts), wopts)

	final := map[string]string{}
	for _, a := range actions {
		v := e.settle(a.ActionID, 90*time.Second)
		code := ""
		if v.ErrorCode != nil {
			code = *v.ErrorCode
		}
		final[a.ActionID] = v.Status + ":" + code
	}

	accepted := map[string]int{}
	for _, c := range e.bot.sent() {
		if c.OK {
			accepted[c.Text]++
		}
	}
	statusCount := map[string]int{}
	for i, a := range actions {
		text := fmt.Sprintf("reply #%03d", i)
		st := final[a.ActionID]
		statusCount[strings.SplitN(st, ":", 2)[0]]++
		require.LessOrEqual(t, accepted[text], 1, "%s accepted by the Bot API twice", text)
		switch {
		case st == "completed:":
			require.Equal(t, 1, accepted[text], "%s completed without an accepted send", text)
		case st == "failed:"+domain.DeliveryOutcomeUnknown:
			// A worker died mid-call: the send may or may not have landed; never sent again.
		default:
			require.True(t, strings.HasPrefix(st, "failed:"), "%s ended %s", text, st)
			require.Zero(t, accepted[text], "%s failed (%s) yet was accepted", text, st)
		}
	}
	t.Logf("outcomes: %v", statusCount)
	assert.Equal(t, chats*perChat, statusCount["completed"]+statusCount["failed"])

	// Each action: a completed one is charged once; a failed one costs nothing in the end.
	rows, err := e.pool.Query(context.Background(), `SELECT action_id, sum(CASE kind WHEN 'charge' THEN 1 ELSE 0 END), sum(CASE kind WHEN 'refund' THEN 1 ELSE 0 END)
		FROM wallet_ledger WHERE action_id IS NOT NULL GROUP BY action_id`)
	require.NoError(t, err)
	for rows.Next() {
		var id string
		var charges, refunds int
		require.NoError(t, rows.Scan(&id, &charges, &refunds))
		require.LessOrEqual(t, charges, 1, "action %s charged twice", id)
		if strings.HasPrefix(final[id], "completed") {
			require.Equal(t, 0, refunds, "completed action %s refunded", id)
		} else {
			require.Equal(t, charges, refunds, "failed action %s not refunded", id)
		}
	}
	require.NoError(t, rows.Err())
	e.ledgerInvariant()
}

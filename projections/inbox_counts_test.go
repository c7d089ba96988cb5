package projections_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

// countsHistory is a random inbox history over two instances: threads opened
// (some twice), queued or taken by a bot, messages, status, priority and
// assignee changes (unassigning too), session assignments, acceptances,
// closes, reopens, bots taking over, and openings again followed by a
// message.
func countsHistory(r *rand.Rand, threads int, at time.Time) []timedEvent {
	var out []timedEvent
	providers := []string{"telegram", "generic-webhook", "wecom"}
	for i := range threads {
		id, inst := fmt.Sprintf("soth_c%03d", i), fmt.Sprintf("i-%d", i%2)
		stream := "thread-" + id
		add := func(e domain.Event) {
			at = at.Add(time.Second)
			out = append(out, timedEvent{stream: stream, at: at, ev: e})
		}
		opened := domain.ThreadOpened{ThreadID: id, InstanceID: inst, OwnerID: "o-1", Provider: providers[r.IntN(len(providers))],
			Status: domain.StatusOpen, Priority: domain.Priorities[r.IntN(len(domain.Priorities))]}
		add(opened)
		if r.IntN(4) == 0 {
			add(domain.SessionBotHandling{ThreadID: id, InstanceID: inst, BotID: "b-1", Reason: domain.SessionReasonOpened})
		} else {
			add(domain.SessionQueued{ThreadID: id, InstanceID: inst, Reason: domain.SessionReasonOpened})
		}
		add(domain.InboundMessageReceived{ThreadID: id, Provider: opened.Provider, Text: "hello"})
		if r.IntN(8) == 0 {
			add(opened) // opened twice: counted once
		}
		for range r.IntN(7) {
			switch r.IntN(10) {
			case 0:
				add(domain.ThreadStatusChanged{ThreadID: id, To: domain.Statuses[r.IntN(len(domain.Statuses))]})
			case 1:
				add(domain.ThreadPriorityChanged{ThreadID: id, To: domain.Priorities[r.IntN(len(domain.Priorities))]})
			case 2:
				add(domain.SessionAssigned{ThreadID: id, InstanceID: inst, OperatorID: 1 + r.Int64N(3)})
			case 3:
				add(domain.SessionClosed{ThreadID: id, InstanceID: inst, Reason: "closed"})
			case 4:
				add(domain.SessionReopened{ThreadID: id, InstanceID: inst, Reason: "reopened"})
			case 5:
				add(domain.SessionAccepted{ThreadID: id, InstanceID: inst, OperatorID: 1 + r.Int64N(3)})
			case 6:
				add(domain.SessionBotHandling{ThreadID: id, InstanceID: inst, BotID: "b-1", Reason: domain.SessionReasonOpened})
			case 7:
				add(domain.ThreadAssigned{ThreadID: id, To: ""})
			case 8:
				// Opened again and a message, no session event between: a
				// batch starting here merges them into the existing row.
				add(opened)
				add(domain.InboundMessageReceived{ThreadID: id, Provider: opened.Provider, Text: "again"})
			default:
				add(domain.ThreadAssigned{ThreadID: id, To: fmt.Sprintf("agent-%d", 1+r.IntN(2))})
			}
		}
	}
	return out
}

// checkCounts asserts that inbox_counts is exactly the inbox's rows grouped
// (no row at zero), and that the inbox's totals, counted from it, equal the
// rows a filter matches.
func checkCounts(t *testing.T, ctx context.Context, pool projections.Querier, what string) {
	t.Helper()
	rows := func(sql string) []string {
		rs, err := pool.Query(ctx, sql)
		require.NoError(t, err)
		defer rs.Close()
		var out []string
		for rs.Next() {
			var inst, status, priority, provider, state string
			var n int64
			require.NoError(t, rs.Scan(&inst, &status, &priority, &provider, &state, &n))
			out = append(out, fmt.Sprintf("%s/%s/%s/%s/%s=%d", inst, status, priority, provider, state, n))
		}
		require.NoError(t, rs.Err())
		return out
	}
	want := rows(`SELECT instance_id, status, priority, provider, coalesce(session_state, ''), count(*) FROM inbox_threads
		GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5`)
	got := rows(`SELECT instance_id, status, priority, provider, session_state, threads FROM inbox_counts ORDER BY 1, 2, 3, 4, 5`)
	require.Equal(t, want, got, "%s: inbox_counts is the inbox grouped", what)

	filters := []projections.ThreadFilter{{}, {Status: domain.StatusOpen}, {Priority: domain.PriorityHigh},
		{Status: domain.StatusResolved, Priority: domain.PriorityLow}, {Provider: "wecom"}, {SessionState: domain.StatePending},
		{SessionState: domain.StateClosed, Status: domain.StatusArchived}, {Provider: "telegram", SessionState: domain.StateAI}}
	for _, inst := range []string{"i-0", "i-1", "i-none"} {
		for _, f := range filters {
			f.InstanceID, f.Limit = inst, 5
			var n int
			require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM inbox_threads WHERE instance_id = $1
				AND ($2 = '' OR status = $2) AND ($3 = '' OR priority = $3) AND ($4 = '' OR provider = $4) AND ($5 = '' OR session_state = $5)`,
				inst, f.Status, f.Priority, f.Provider, f.SessionState).Scan(&n))
			page, err := projections.ListThreads(ctx, pool, f)
			require.NoError(t, err)
			assert.Equal(t, n, page.Total, "%s: the total of %+v", what, f)
			assert.Equal(t, n > 5, page.HasMore, "%s: more pages of %+v", what, f)
		}
	}
}

// The inbox's totals come from inbox_counts, which its triggers keep equal
// to the rows whatever path a write takes: a first webhook merged into one
// row or applied event by event, batches of any size, a rebuild's shadow
// tables swapped in (the live writes after it are counted too), a deleted
// row, a truncated table.
func TestInboxCountsFollowEveryWrite(t *testing.T) {
	ctx := context.Background()
	pool, store, reg, r := historyFixture(t, 21)
	inbox := projections.InboxProjector{}
	at := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)

	apply := func(events []timedEvent) {
		storeHistory(t, ctx, pool, store, reg, inbox, events, func() int { return 1 + r.IntN(30) })
	}

	apply(countsHistory(r, 60, at))
	checkCounts(t, ctx, pool, "live")

	_, err := projections.Rebuild(ctx, pool, store, reg, inbox)
	require.NoError(t, err)
	checkCounts(t, ctx, pool, "rebuilt")
	var triggers int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_trigger WHERE tgrelid = 'public.inbox_threads'::regclass AND NOT tgisinternal`).Scan(&triggers))
	assert.Equal(t, 4, triggers, "the swapped-in table keeps counting")

	// Writes after the swap: more threads, and changes to the old ones.
	more := countsHistory(r, 80, at.Add(time.Hour))
	apply(more)
	checkCounts(t, ctx, pool, "after the rebuild")
	diffs, err := projections.Verify(ctx, pool, store, reg, inbox, 5)
	require.NoError(t, err)
	assert.Empty(t, diffs, "live equals a fresh rebuild")

	// The totals of such filters are read from inbox_counts, not counted:
	// a count moved by hand moves them; a keyword's total still counts rows.
	_, err = pool.Exec(ctx, `UPDATE inbox_counts SET threads = threads + 1000 WHERE instance_id = 'i-0'`)
	require.NoError(t, err)
	all, err := projections.ListThreads(ctx, pool, projections.ThreadFilter{InstanceID: "i-0"})
	require.NoError(t, err)
	keyword, err := projections.ListThreads(ctx, pool, projections.ThreadFilter{InstanceID: "i-0", Q: "soth"})
	require.NoError(t, err)
	var rows, groups int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT (status, priority, provider, session_state)) FROM inbox_threads
		WHERE instance_id = 'i-0'`).Scan(&rows, &groups))
	assert.Equal(t, rows+1000*groups, all.Total, "read from inbox_counts")
	assert.Equal(t, 0, keyword.Total, "a keyword counts the rows")
	_, err = pool.Exec(ctx, `UPDATE inbox_counts SET threads = threads - 1000 WHERE instance_id = 'i-0'`)
	require.NoError(t, err)

	_, err = pool.Exec(ctx, `DELETE FROM inbox_threads WHERE thread_id IN (SELECT thread_id FROM inbox_threads ORDER BY thread_id LIMIT 7)`)
	require.NoError(t, err)
	checkCounts(t, ctx, pool, "rows deleted")
	_, err = pool.Exec(ctx, `TRUNCATE inbox_threads`)
	require.NoError(t, err)
	checkCounts(t, ctx, pool, "truncated")
}

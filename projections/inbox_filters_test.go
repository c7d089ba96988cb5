package projections_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

// checkOperatorFilters asserts that the inbox's session_operator is the
// sessions read model's operator_id for every thread, and that the operator
// and assignee filters list exactly, in inbox order, the threads the
// sessions read model and the rows name, each with the operator the
// sessions read model shows.
func checkOperatorFilters(t *testing.T, ctx context.Context, pool projections.Querier, what string) {
	t.Helper()
	var differ, operators, closedHeld int
	require.NoError(t, pool.QueryRow(ctx, `SELECT
			count(*) FILTER (WHERE t.session_operator IS DISTINCT FROM s.operator_id),
			count(*) FILTER (WHERE t.session_operator IS NOT NULL),
			count(*) FILTER (WHERE t.session_state = 'closed' AND t.session_operator IS NOT NULL)
		FROM inbox_threads t FULL JOIN sessions s USING (thread_id)`).Scan(&differ, &operators, &closedHeld))
	require.Zero(t, differ, "%s: every inbox row names its session's operator", what)
	require.Positive(t, operators, "%s: the history held sessions", what)
	require.Positive(t, closedHeld, "%s: a closed session keeps who held it", what)

	ids := func(sql string, args ...any) []string {
		rs, err := pool.Query(ctx, sql, args...)
		require.NoError(t, err)
		defer rs.Close()
		var out []string
		for rs.Next() {
			var id string
			require.NoError(t, rs.Scan(&id))
			out = append(out, id)
		}
		require.NoError(t, rs.Err())
		return out
	}
	list := func(f projections.ThreadFilter) []string {
		var out []string
		f.Limit = 7
		for f.Page = 1; ; f.Page++ {
			page, err := projections.ListThreads(ctx, pool, f)
			require.NoError(t, err)
			for _, th := range page.Threads {
				out = append(out, th.ThreadID)
				var held *int64
				require.NoError(t, pool.QueryRow(ctx, `SELECT operator_id FROM sessions WHERE thread_id = $1`, th.ThreadID).Scan(&held))
				assert.Equal(t, held, th.SessionOperatorID, "%s: the operator shown for %s", what, th.ThreadID)
			}
			if !page.HasMore {
				assert.Equal(t, len(out), page.Total, "%s: the total of %+v", what, f)
				return out
			}
		}
	}
	const order = ` ORDER BY last_message_at DESC, thread_id DESC`
	for _, inst := range []string{"i-0", "i-1", "i-none"} {
		for op := int64(1); op <= 4; op++ {
			want := ids(`SELECT thread_id FROM inbox_threads WHERE instance_id = $1
				AND thread_id IN (SELECT thread_id FROM sessions WHERE instance_id = $1 AND operator_id = $2)`+order, inst, op)
			assert.Equal(t, want, list(projections.ThreadFilter{InstanceID: inst, OperatorID: op}), "%s: operator %d of %s", what, op, inst)
			want = ids(`SELECT thread_id FROM inbox_threads WHERE instance_id = $1 AND session_state = 'manual'
				AND thread_id IN (SELECT thread_id FROM sessions WHERE instance_id = $1 AND operator_id = $2)`+order, inst, op)
			assert.Equal(t, want, list(projections.ThreadFilter{InstanceID: inst, OperatorID: op, SessionState: domain.StateManual}),
				"%s: operator %d of %s, manual", what, op, inst)
		}
		for _, a := range []string{"agent-1", "agent-2", "agent-3"} {
			want := ids(`SELECT thread_id FROM inbox_threads WHERE instance_id = $1 AND assignee = $2`+order, inst, a)
			assert.Equal(t, want, list(projections.ThreadFilter{InstanceID: inst, Assignee: a}), "%s: assignee %s of %s", what, a, inst)
		}
	}
}

// checkSessionLists asserts that ListSessions, which pages over an index
// and joins only the page, lists exactly what joining every session and
// sorting them lists, for every filter the seed-003 list takes, page by
// page, each row as GetSession shows it.
func checkSessionLists(t *testing.T, ctx context.Context, pool projections.Querier, what string) {
	t.Helper()
	var filters []projections.SessionFilter
	for _, state := range append([]string{""}, domain.SessionStates...) {
		filters = append(filters, projections.SessionFilter{Status: state}, projections.SessionFilter{Status: state, Provider: "telegram"})
		for op := int64(1); op <= 3; op++ {
			filters = append(filters, projections.SessionFilter{Status: state, OperatorID: &op})
		}
	}
	none := int64(-1)
	filters = append(filters, projections.SessionFilter{OperatorID: &none})
	for _, inst := range []string{"i-0", "i-1", "i-none"} {
		for _, f := range filters {
			f.InstanceID = inst
			order := ` ORDER BY coalesce(i.last_message_at, s.created_at) DESC, s.thread_id DESC`
			if f.Status == domain.StatePending {
				order = ` ORDER BY s.queued_position, s.thread_id`
			}
			rs, err := pool.Query(ctx, `SELECT s.thread_id FROM sessions s LEFT JOIN inbox_threads i ON i.thread_id = s.thread_id
				WHERE s.instance_id = $1 AND ($2 = '' OR s.status = $2) AND ($3::bigint IS NULL OR s.operator_id = $3)
				AND ($4 = '' OR s.provider = $4)`+order, inst, f.Status, f.OperatorID, f.Provider)
			require.NoError(t, err)
			var want []string
			for rs.Next() {
				var id string
				require.NoError(t, rs.Scan(&id))
				want = append(want, id)
			}
			require.NoError(t, rs.Err())
			var got []string
			f.Limit = 6
			for f.Page = 1; ; f.Page++ {
				views, err := projections.ListSessions(ctx, pool, f)
				require.NoError(t, err)
				for _, v := range views {
					got = append(got, v.ThreadID)
					one, found, err := projections.GetSession(ctx, pool, inst, v.ThreadID)
					require.NoError(t, err)
					require.True(t, found)
					assert.Equal(t, one, v, "%s: the listed session %s", what, v.ThreadID)
				}
				if len(views) < f.Limit {
					break
				}
			}
			assert.Equal(t, want, got, "%s: sessions of %s, %+v", what, inst, f)
		}
	}
}

// The inbox keeps its session's operator as the sessions read model keeps
// it, whatever path the events take (a first webhook merged or applied event
// by event, batches of any size, a rebuild), so the operator filter (every
// page of a credential bound to an operator) and the page's
// session_operator_id read the inbox alone, and the session list pages over
// the inbox's order.
func TestInboxOperatorFollowsSessions(t *testing.T) {
	ctx := context.Background()
	pool, store, reg, r := historyFixture(t, 36)
	batch := func() int { return 1 + r.IntN(30) }
	at := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	inbox, sessions := projections.InboxProjector{}, projections.SessionsProjector{}

	for round := range 2 {
		before, err := store.HeadPosition(ctx)
		require.NoError(t, err)
		events := countsHistory(r, 70, at.Add(time.Duration(round)*time.Hour))
		// A session held and then closed, whatever the random part drew.
		end := events[len(events)-1].at
		events = append(events,
			timedEvent{stream: "thread-soth_c000", at: end.Add(time.Second), ev: domain.SessionAssigned{ThreadID: "soth_c000", InstanceID: "i-0", OperatorID: 2}},
			timedEvent{stream: "thread-soth_c000", at: end.Add(2 * time.Second), ev: domain.SessionClosed{ThreadID: "soth_c000", InstanceID: "i-0", Reason: "closed"}})
		storeHistory(t, ctx, pool, store, reg, inbox, events, batch)
		applyStored(t, ctx, pool, store, reg, sessions, before, batch)
		checkOperatorFilters(t, ctx, pool, fmt.Sprintf("live, round %d", round))
		checkSessionLists(t, ctx, pool, fmt.Sprintf("live, round %d", round))
	}
	diffs, err := projections.Verify(ctx, pool, store, reg, inbox, 5)
	require.NoError(t, err)
	assert.Empty(t, diffs, "live equals a fresh rebuild")
	_, err = projections.Rebuild(ctx, pool, store, reg, inbox)
	require.NoError(t, err)
	checkOperatorFilters(t, ctx, pool, "rebuilt")
}

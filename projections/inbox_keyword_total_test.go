package projections_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/postgres/pgtest"
	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

// A keyword's total counts matches up to KeywordTotalBound, or to the end of
// the page asked for when that is further; with more matches than that, the
// total is the bound and total_exact is false. A total without a keyword,
// or of no more matches than the bound, is exact. The pages themselves are
// not bounded.
func TestKeywordTotalIsBounded(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	matches := projections.KeywordTotalBound + 50
	at := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	// matches threads whose subject has "refund" (every tenth also "urgent
	// refund"), then 30 that have neither, all in one instance.
	_, err := pool.Exec(ctx, `INSERT INTO inbox_threads (thread_id, instance_id, owner_id, provider, subject, status, priority,
			last_message_at, created_at, updated_at, last_position)
		SELECT 'soth_kw' || lpad(i::text, 6, '0'), 'i-kw', 'o-1', 'telegram',
			CASE WHEN i > $1 THEN 'Where is my parcel' WHEN i % 10 = 0 THEN 'Urgent REFUND ' || i ELSE 'refund ' || i END,
			CASE WHEN i % 10 = 0 THEN 'pending' ELSE 'open' END, 'normal',
			$2::timestamptz - i * interval '1 second', $2, $2, i
		FROM generate_series(1, $1 + 30) i`, matches, at)
	require.NoError(t, err)

	var counts int // count statements sent by the latest list
	list := func(f projections.ThreadFilter) projections.ThreadPage {
		t.Helper()
		f.InstanceID = "i-kw"
		q := &countingQuerier{Querier: pool}
		page, err := projections.ListThreads(ctx, q, f)
		require.NoError(t, err)
		counts = q.counts
		return page
	}
	bound := projections.KeywordTotalBound
	cases := []struct {
		name        string
		filter      projections.ThreadFilter
		total, rows int
		exact, more bool
		counted     bool // a count statement was sent: a page that reaches the bound and has rows tells the count itself
	}{
		{"keyword, page 1: stops at the bound", projections.ThreadFilter{Q: "Refund", Limit: 20}, bound, 20, false, true, true},
		{"keyword, the bound's last page", projections.ThreadFilter{Q: "refund", Page: bound / 20, Limit: 20}, bound, 20, false, true, false},
		// Past the bound the count goes to the end of the page: total is
		// never below the rows shown so far.
		{"keyword, a page past the bound", projections.ThreadFilter{Q: "refund", Page: bound/20 + 1, Limit: 20}, bound + 20, 20, false, true, false},
		{"keyword, the last page of 100", projections.ThreadFilter{Q: "refund", Page: bound/100 + 1, Limit: 100}, matches, 50, true, false, false},
		{"keyword, the last page", projections.ThreadFilter{Q: "refund", Page: bound/20 + 3, Limit: 20}, matches, 10, true, false, false},
		{"keyword with a cursor-less deep page past every match", projections.ThreadFilter{Q: "refund", Page: bound/20 + 10, Limit: 20}, matches, 0, true, false, true},
		{"keyword and status: fewer than the bound", projections.ThreadFilter{Q: "refund", Status: domain.StatusPending, Limit: 20}, matches / 10, 20, true, true, true},
		{"keyword with few matches", projections.ThreadFilter{Q: "urgent refund 1001", Limit: 20}, 1, 1, true, false, true},
		{"keyword with none", projections.ThreadFilter{Q: "parcel refund", Limit: 20}, 0, 0, true, false, true},
		{"no keyword: counted exactly", projections.ThreadFilter{Limit: 20}, matches + 30, 20, true, true, false},
		{"no keyword, a deep page", projections.ThreadFilter{Page: bound/20 + 3, Limit: 20}, matches + 30, 20, true, true, false},
	}
	for _, c := range cases {
		page := list(c.filter)
		assert.Equal(t, c.total, page.Total, "%s: total", c.name)
		assert.Equal(t, c.exact, page.TotalExact, "%s: total_exact", c.name)
		assert.Equal(t, c.rows, len(page.Threads), "%s: rows", c.name)
		assert.Equal(t, c.more, page.HasMore, "%s: has_more", c.name)
		assert.Equal(t, c.counted, counts > 0, "%s: counted", c.name)
		if c.filter.Q != "" && len(page.Threads) > 0 {
			assert.GreaterOrEqual(t, page.Total, (max(c.filter.Page, 1)-1)*c.filter.Limit+len(page.Threads),
				"%s: the total covers every row up to this page", c.name)
		}
	}

	// A cursor reads on from a row; the bounded total is the same as page 1's.
	first := list(projections.ThreadFilter{Q: "refund", Limit: 20})
	cursor, err := projections.DecodeCursor(first.NextCursor)
	require.NoError(t, err)
	next := list(projections.ThreadFilter{Q: "refund", Limit: 20, Cursor: &cursor})
	assert.Equal(t, bound, next.Total)
	assert.False(t, next.TotalExact)
	assert.Equal(t, fmt.Sprintf("soth_kw%06d", 21), next.Threads[0].ThreadID, "the cursor's page follows page 1")
}

// countingQuerier counts the count(*) statements sent through it (the sums
// of inbox_counts are not counted).
type countingQuerier struct {
	projections.Querier
	counts int
}

func (q *countingQuerier) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if strings.Contains(sql, "count(*)") {
		q.counts++
	}
	return q.Querier.QueryRow(ctx, sql, args...)
}

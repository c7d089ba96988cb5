package postgres

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/postgres/pgtest"
	"github.com/socialops/socialops/domain"
)

// The append functions read the log by index whatever its statistics say
// (migrations/00040). Their plans are made once per connection; analyzed at
// a few dozen events, the log looked small enough for sequential scans, and
// every append kept reading all of it until the next ANALYZE.
func TestAppendsNeverScanTheWholeLog(t *testing.T) {
	pool := pgtest.NewPool(t)
	s := New(pool, nil)
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	for i := range 60 {
		ev := domain.ProposedEvent{ID: domain.RandomUUID(domain.CryptoRandom), Type: "Young", Data: []byte(`{}`)}
		_, err := s.Append(ctx, fmt.Sprintf("young-%d", i), domain.NoStream(), ev)
		require.NoError(t, err)
	}
	// What autovacuum does to a young log: the plans made after it think
	// the table is one page.
	_, err := pool.Exec(ctx, `ANALYZE event_store_events`)
	require.NoError(t, err)

	one := func(stream string, expected int64) (string, []any) {
		return `SELECT status FROM event_store_append_one($1, $2, $3, $4, $5, $6)`,
			[]any{stream, expected, [][16]byte{uuid.New()}, []string{"Older"}, [][]byte{[]byte(`{}`)}, [][]byte{[]byte(`{}`)}}
	}
	// A batch of two requests: an append to young-1 expecting revision
	// expected, and one opening a new stream.
	packed := func(expected int64) (string, []any) {
		a, b := [16]byte(uuid.New()), [16]byte(uuid.New())
		return `SELECT status FROM event_store_append_packed($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`, []any{[]string{"young-1", "new-stream"}, []int64{expected, -1}, []int32{1, 1}, [][16]byte{a, b},
			[]int32{0, 0}, []int32{1, 2}, []int32{0, 0}, []int32{1, 2}, []int32{1, 1}, [][16]byte{a, b}, []string{"Older", "New"},
			[]int32{1, 3}, []int32{2, 2}, []int32{3, 5}, []int32{0, 0}, []byte(`{}{}`)}
	}
	calls := map[string]struct {
		call func() (string, []any)
		want []int16 // each append's status
	}{
		"event_store_append_one":          {func() (string, []any) { return one("young-0", -2) }, []int16{statusApplied}},
		"event_store_append_one, failing": {func() (string, []any) { return one("young-0", 7) }, []int16{statusWrong}},
		// The previous version's batch function, kept for its processes during an upgrade.
		"event_store_append": {func() (string, []any) {
			a, b := [16]byte(uuid.New()), [16]byte(uuid.New())
			return `SELECT status FROM event_store_append($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
				[]any{[]string{"young-1", "new-stream"}, []int64{0, -1}, []int32{1, 1}, [][16]byte{a, b}, []int32{0, 0}, []int32{1, 2},
					[]string{"young-1", "new-stream"}, [][16]byte{a, b}, []string{"Older", "New"}, [][]byte{[]byte(`{}`), []byte(`{}`)}, [][]byte{[]byte(`{}`), []byte(`{}`)}}
		}, []int16{statusApplied, statusApplied}},
		// Every append applies: one INSERT.
		"event_store_append_packed": {func() (string, []any) { return packed(0) }, []int16{statusApplied, statusApplied}},
		// The first request fails: the loop decides each append.
		"event_store_append_packed, one failing": {func() (string, []any) { return packed(5) }, []int16{statusWrong, statusApplied}},
	}
	for name, c := range calls {
		t.Run(name, func(t *testing.T) {
			tx, err := pool.Begin(ctx)
			require.NoError(t, err)
			defer tx.Rollback(context.Background()) //nolint:errcheck // nothing of the test is kept
			sql, args := c.call()
			rows, err := tx.Query(ctx, sql, args...)
			require.NoError(t, err)
			var got []int16
			for rows.Next() {
				var status int16
				require.NoError(t, rows.Scan(&status))
				got = append(got, status)
			}
			require.NoError(t, rows.Err())
			require.Equal(t, c.want, got)
			var seqScans, idxScans int64
			require.NoError(t, tx.QueryRow(ctx, `SELECT coalesce(seq_scan, 0), coalesce(idx_scan, 0) FROM pg_stat_xact_user_tables WHERE relname = 'event_store_events'`).Scan(&seqScans, &idxScans))
			require.Zero(t, seqScans, "the append read the log by a sequential scan")
			require.NotZero(t, idxScans, "the append probed no index")
		})
	}
}

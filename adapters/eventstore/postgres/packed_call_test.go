package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/postgres/pgtest"
	"github.com/socialops/socialops/domain"
)

// event_store_append_packed (migrations/00042) decides every batch as
// event_store_append did: the same answers and the same rows, byte for byte,
// whether every append applies (its one-statement path) or some fail, undo
// their group or may repeat stored events (handed to event_store_append with
// the events rebuilt from the packed arguments). Random batches over streams
// that exist and streams that do not, each called through both functions in
// a transaction that is rolled back.
func TestPackedAppendDecidesAsTheLoop(t *testing.T) {
	pool := pgtest.NewPool(t)
	s := New(pool, nil)
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(42, 21))

	body := func() []byte {
		b := make([]byte, rng.IntN(2)*rng.IntN(300))
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		return b
	}
	event := func() domain.ProposedEvent {
		return domain.ProposedEvent{ID: domain.RandomUUID(domain.CryptoRandom), Type: fmt.Sprintf("T%d", rng.IntN(9)), Data: body(), Metadata: body()}
	}
	stored := map[string][]string{} // event ids of each seeded stream, in order
	var names []string
	for i := range 6 {
		name := fmt.Sprintf("seeded-%d", i)
		evs := make([]domain.ProposedEvent, 1+rng.IntN(4))
		for j := range evs {
			evs[j] = event()
			stored[name] = append(stored[name], evs[j].ID)
		}
		_, err := s.Append(ctx, name, domain.NoStream(), evs...)
		require.NoError(t, err)
		names = append(names, name)
	}
	for i := range 4 {
		names = append(names, fmt.Sprintf("new-%d", i))
	}

	type row struct {
		position, revision int64
		stream, id, typ    string
		data, meta         string
	}
	type result struct {
		answers []answer
		rows    []row
	}
	run := func(sql string, args []any) result {
		tx, err := pool.Begin(ctx)
		require.NoError(t, err)
		defer tx.Rollback(context.Background()) //nolint:errcheck // nothing is kept
		var head int64
		require.NoError(t, tx.QueryRow(ctx, `SELECT coalesce(max(position), 0) FROM event_store_events`).Scan(&head))
		rows, err := tx.Query(ctx, sql, args...)
		require.NoError(t, err)
		var res result
		for rows.Next() {
			var a answer
			require.NoError(t, rows.Scan(&a.status, &a.revision, &a.position, &a.created))
			res.answers = append(res.answers, a)
		}
		require.NoError(t, rows.Err())
		written, err := tx.Query(ctx, `SELECT position, revision, stream_name, event_id::text, event_type, data, metadata
			FROM event_store_events WHERE position > $1 ORDER BY position`, head)
		require.NoError(t, err)
		res.rows, err = pgx.CollectRows(written, func(r pgx.CollectableRow) (row, error) {
			var w row
			var data, meta []byte
			err := r.Scan(&w.position, &w.revision, &w.stream, &w.id, &w.typ, &data, &meta)
			w.data, w.meta = string(data), string(meta)
			return w, err
		})
		require.NoError(t, err)
		return res
	}

	applied, failed := 0, 0
	for trial := range 400 {
		friendly := trial%2 == 0 // expectations that hold, counting the batch's earlier appends
		current := map[string]int64{}
		for _, n := range names {
			current[n] = int64(len(stored[n])) - 1
		}
		var batch []*appendRequest
		for range 1 + rng.IntN(5) {
			var parts []domain.StreamAppend
			for _, k := range rng.Perm(len(names))[:1+rng.IntN(3)] {
				name := names[k]
				evs := make([]domain.ProposedEvent, 1+rng.IntN(3))
				for j := range evs {
					evs[j] = event()
				}
				var expected domain.ExpectedRevision
				switch {
				case friendly && current[name] < 0:
					expected = domain.NoStream()
				case friendly:
					expected = domain.ExactRevision(uint64(current[name]))
				default:
					switch rng.IntN(5) {
					case 0:
						expected = domain.AnyRevision()
					case 1:
						expected = domain.NoStream()
					case 2:
						expected = domain.StreamExists()
					default:
						expected = domain.ExactRevision(uint64(max(0, current[name]+int64(rng.IntN(3))-1)))
					}
					if len(stored[name]) > 0 && rng.IntN(8) == 0 {
						evs[0].ID = stored[name][rng.IntN(len(stored[name]))] // a possible repeat
					}
				}
				current[name] += int64(len(evs))
				parts = append(parts, domain.StreamAppend{Stream: name, Expected: expected, Events: evs})
			}
			req, err := newAppendRequest(ctx, parts)
			require.NoError(t, err)
			batch = append(batch, req)
		}
		call := newBatchCall(batch, make([]bool, len(batch)))

		// The same batch as event_store_append takes it.
		eStream := make([]string, len(call.eApp))
		eData := make([][]byte, len(call.eApp))
		eMeta := make([][]byte, len(call.eApp))
		for k, a := range call.eApp {
			eStream[k] = call.aStream[a-1]
			b := call.bodies
			eData[k] = b.blob[b.dataOff[k]-1 : b.dataOff[k]-1+b.dataLen[k]]
			eMeta[k] = b.blob[b.metaOff[k]-1 : b.metaOff[k]-1+b.metaLen[k]]
		}
		loop := run(`SELECT status, revision, position, created_at FROM event_store_append($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			[]any{call.aStream, call.aExpected, call.aCount, call.aFirst, call.aPrev, call.aGrp, eStream, call.eID, call.eType, eData, eMeta})
		packed := run(appendBatchSQL, call.args())

		require.Len(t, packed.answers, len(call.aStream), "trial %d", trial)
		require.Len(t, loop.answers, len(call.aStream), "trial %d", trial)
		all := true
		for i := range loop.answers {
			l, p := loop.answers[i], packed.answers[i]
			require.Equal(t, l.status, p.status, "trial %d, append %d: status", trial, i)
			require.Equal(t, l.revision, p.revision, "trial %d, append %d: revision", trial, i)
			require.Equal(t, l.position, p.position, "trial %d, append %d: position", trial, i)
			all = all && l.status == statusApplied
		}
		require.Equal(t, loop.rows, packed.rows, "trial %d: rows written", trial)
		if all {
			applied++
		} else {
			failed++
		}
	}
	// Both paths of the function were taken, many times.
	require.Greater(t, applied, 150, "batches whose every append applied")
	require.Greater(t, failed, 50, "batches with a failure or a possible repeat")
}

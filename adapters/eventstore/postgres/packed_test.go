package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	pgstore "github.com/socialops/socialops/adapters/eventstore/postgres"
	"github.com/socialops/socialops/adapters/postgres/pgtest"
	"github.com/socialops/socialops/domain"
)

// The events' bodies travel packed in one parameter (packed.go): concurrent
// appends, batched together, store every data and metadata byte for byte,
// empty and binary ones included, each with its own event. Read from the
// table itself: the store's reads may be served from memory.
func TestBatchedBodiesAreStoredByteForByte(t *testing.T) {
	pool := pgtest.NewPool(t)
	s := pgstore.New(pool, nil)
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()

	rng := rand.New(rand.NewPCG(21, 35))
	body := func() []byte {
		b := make([]byte, rng.IntN(3)*rng.IntN(700)) // a third of them empty
		for i := range b {
			b[i] = byte(rng.UintN(256)) // NUL and high bytes too
		}
		return b
	}
	const appenders, perAppender = 24, 3
	want := map[string]domain.ProposedEvent{}
	var appends [appenders][]domain.ProposedEvent
	for i := range appenders {
		for range perAppender {
			e := domain.ProposedEvent{ID: domain.RandomUUID(domain.CryptoRandom), Type: "Packed", Data: body(), Metadata: body()}
			appends[i] = append(appends[i], e)
			want[e.ID] = e
		}
	}
	var wg sync.WaitGroup
	for i := range appenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Append(ctx, fmt.Sprintf("packed-%d", i), domain.NoStream(), appends[i]...)
			assert.NoError(t, err)
		}()
	}
	wg.Wait()

	rows, err := pool.Query(ctx, `SELECT event_id::text, data, metadata FROM event_store_events WHERE event_type = 'Packed'`)
	require.NoError(t, err)
	defer rows.Close()
	seen := 0
	for rows.Next() {
		var id string
		var data, meta []byte
		require.NoError(t, rows.Scan(&id, &data, &meta))
		e, ok := want[id]
		require.True(t, ok, "stored an event never appended: %s", id)
		assert.Equal(t, len(e.Data), len(data), "data length of %s", id)
		assert.True(t, string(e.Data) == string(data), "data of %s", id)
		assert.True(t, string(e.Metadata) == string(meta), "metadata of %s", id)
		seen++
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, appenders*perAppender, seen)
}

package postgres_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	pgstore "github.com/socialops/socialops/adapters/eventstore/postgres"
	"github.com/socialops/socialops/adapters/postgres/pgtest"
	"github.com/socialops/socialops/domain"
)

func ev(typ string) domain.ProposedEvent {
	return domain.ProposedEvent{ID: domain.RandomUUID(domain.CryptoRandom), Type: typ, Data: []byte(`{}`), Metadata: []byte(`{}`)}
}

// AppendMulti stores every part or none, each part with Append's rules, and
// concurrent groups in one batch keep their own outcomes.
func TestAppendMultiIsAtomic(t *testing.T) {
	s := pgstore.New(pgtest.NewPool(t), nil)
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()

	a1, b1 := ev("A"), ev("B")
	res, err := s.AppendMulti(ctx,
		domain.StreamAppend{Stream: "claim-1", Expected: domain.NoStream(), Events: []domain.ProposedEvent{a1}},
		domain.StreamAppend{Stream: "thread-1", Expected: domain.NoStream(), Events: []domain.ProposedEvent{b1, ev("C")}})
	require.NoError(t, err)
	require.Len(t, res, 2)
	assert.Equal(t, uint64(0), res[0].NextExpectedRevision)
	assert.Equal(t, uint64(1), res[1].NextExpectedRevision)
	assert.Equal(t, res[0].Position+2, res[1].Position)

	// The second part fails: the first is not stored either.
	head, err := s.HeadPosition(ctx)
	require.NoError(t, err)
	_, err = s.AppendMulti(ctx,
		domain.StreamAppend{Stream: "claim-2", Expected: domain.NoStream(), Events: []domain.ProposedEvent{ev("A")}},
		domain.StreamAppend{Stream: "thread-1", Expected: domain.ExactRevision(0), Events: []domain.ProposedEvent{ev("B")}})
	var wrong *domain.WrongExpectedRevisionError
	require.ErrorAs(t, err, &wrong)
	assert.Equal(t, "thread-1", wrong.Stream)
	assert.Equal(t, int64(1), wrong.Actual)
	_, err = s.ReadStream(ctx, "claim-2", domain.Forwards, 0, 10)
	assert.ErrorIs(t, err, domain.ErrStreamNotFound)
	after, err := s.HeadPosition(ctx)
	require.NoError(t, err)
	assert.Equal(t, head, after)

	// A repeat of the whole group is an idempotent success with the original result.
	again, err := s.AppendMulti(ctx,
		domain.StreamAppend{Stream: "claim-1", Expected: domain.NoStream(), Events: []domain.ProposedEvent{a1}},
		domain.StreamAppend{Stream: "thread-1", Expected: domain.NoStream(), Events: []domain.ProposedEvent{b1, res1Event(t, s, "thread-1", 1)}})
	require.NoError(t, err)
	require.Len(t, again, 2)
	for i := range res {
		assert.False(t, res[i].Repeated)
		assert.True(t, again[i].Repeated, "part %d: the store says the group was a repeat", i)
		again[i].Repeated = false
	}
	assert.Equal(t, res, again)

	// Many groups at once, half of them racing for the same streams.
	var wg sync.WaitGroup
	errs := make([]error, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.AppendMulti(ctx,
				domain.StreamAppend{Stream: "race-claim", Expected: domain.AnyRevision(), Events: []domain.ProposedEvent{ev("A")}},
				domain.StreamAppend{Stream: "race-thread", Expected: domain.NoStream(), Events: []domain.ProposedEvent{ev("B")}})
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else {
			require.ErrorIs(t, err, domain.ErrWrongExpectedRevision)
		}
	}
	assert.Equal(t, 1, ok, "one group wins the no-stream race")
	claims, err := s.ReadStream(ctx, "race-claim", domain.Forwards, 0, 100)
	require.NoError(t, err)
	assert.Len(t, claims, 1, "the losers stored nothing")
	all, err := s.ReadAll(ctx, 0, 1000)
	require.NoError(t, err)
	for i, e := range all {
		require.Equal(t, uint64(i+1), e.Position, "positions stay dense")
	}
}

// res1Event returns the stored event at a revision as a proposed event (same id).
func res1Event(t *testing.T, s *pgstore.Store, stream string, rev uint64) domain.ProposedEvent {
	evs, err := s.ReadStream(context.Background(), stream, domain.Forwards, rev, 1)
	require.NoError(t, err)
	require.Len(t, evs, 1)
	return domain.ProposedEvent{ID: evs[0].ID, Type: evs[0].Type, Data: evs[0].Data, Metadata: evs[0].Metadata}
}

// An append is Repeated exactly when it stored nothing because its events were
// there already, whether it came alone (the lean one-stream append) or in a
// batch with others.
func TestARepeatedAppendSaysSo(t *testing.T) {
	s := pgstore.New(pgtest.NewPool(t), nil)
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()

	a := []domain.ProposedEvent{ev("A"), ev("B")}
	first, err := s.Append(ctx, "solo", domain.NoStream(), a...)
	require.NoError(t, err)
	assert.False(t, first.Repeated)
	again, err := s.Append(ctx, "solo", domain.NoStream(), a...)
	require.NoError(t, err)
	assert.True(t, again.Repeated)
	assert.Equal(t, first.Position, again.Position)
	next, err := s.Append(ctx, "solo", domain.ExactRevision(1), ev("C"))
	require.NoError(t, err)
	assert.False(t, next.Repeated, "new events after a repeat are written")

	// 16 appenders at once, so they share batches: each stream's first copy
	// writes, its second repeats.
	const n = 16
	events := make([][]domain.ProposedEvent, n)
	for i := range events {
		events[i] = []domain.ProposedEvent{ev("A")}
	}
	results := make([][2]domain.AppendResult, n)
	for round := range 2 {
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := s.Append(ctx, "batched-"+string(rune('a'+i)), domain.NoStream(), events[i]...)
				assert.NoError(t, err)
				results[i][round] = r
			}()
		}
		wg.Wait()
	}
	for i := range results {
		assert.False(t, results[i][0].Repeated, "stream %d: the first copy wrote", i)
		assert.True(t, results[i][1].Repeated, "stream %d: the second repeated", i)
		assert.Equal(t, results[i][0].Position, results[i][1].Position)
	}
}

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

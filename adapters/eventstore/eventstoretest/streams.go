package eventstoretest

// The contract for appends and stream reads: round trips, directions and
// counts, missing streams, expectations, concurrent appends, idempotency.

import (
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/eventstore"
	"github.com/socialops/socialops/domain"
)

func testAppendAndReadRoundTrip(t *testing.T, s eventstore.Store) {
	c := ctx(t)
	stream := prefix(t) + "thread-1"
	meta := domain.Metadata{
		EventID:       newID(),
		SchemaVersion: 3,
		CorrelationID: "corr-42",
		CausationID:   "cause-7",
		OwnerID:       "owner-用户",
		InstanceAlias: "support",
		Actor:         domain.Actor{Kind: domain.ActorProvider, ID: "telegram"},
		OccurredAt:    time.Date(2026, 11, 21, 12, 30, 45, 123456000, time.UTC),
	}
	metaJSON, err := json.Marshal(meta)
	require.NoError(t, err)
	data := []byte(`{"text":"我们正在检查这个问题。 Đang kiểm tra 🚀","nested":{"emoji":"👩‍💻","quote":"\"\\"}}`)
	ev := domain.ProposedEvent{ID: meta.EventID, Type: "InboundMessageReceived", Data: data, Metadata: metaJSON}

	res, err := s.Append(c, stream, domain.NoStream(), ev)
	require.NoError(t, err)
	assert.Equal(t, uint64(0), res.NextExpectedRevision)
	assert.NotZero(t, res.Position)

	got, err := s.ReadStream(c, stream, domain.Forwards, domain.StreamStart, 10)
	require.NoError(t, err)
	require.Len(t, got, 1)
	r := got[0]
	assert.Equal(t, stream, r.StreamID)
	assert.Equal(t, uint64(0), r.Revision)
	assert.Equal(t, res.Position, r.Position)
	assert.Equal(t, meta.EventID, r.ID)
	assert.Equal(t, "InboundMessageReceived", r.Type)
	assert.JSONEq(t, string(data), string(r.Data))
	assert.False(t, r.Created.IsZero(), "created time is set")
	var back domain.Metadata
	require.NoError(t, json.Unmarshal(r.Metadata, &back))
	assert.Equal(t, meta.EventID, back.EventID)
	assert.Equal(t, meta.CorrelationID, back.CorrelationID)
	assert.Equal(t, meta.CausationID, back.CausationID)
	assert.Equal(t, meta.OwnerID, back.OwnerID)
	assert.Equal(t, meta.InstanceAlias, back.InstanceAlias)
	assert.Equal(t, meta.Actor, back.Actor)
	assert.Equal(t, meta.SchemaVersion, back.SchemaVersion)
	assert.True(t, meta.OccurredAt.Equal(back.OccurredAt))
}

func testReadStreamDirectionsAndCounts(t *testing.T, s eventstore.Store) {
	c := ctx(t)
	stream := prefix(t) + "s"
	appendN(t, s, stream, 10)

	fw, err := s.ReadStream(c, stream, domain.Forwards, domain.StreamStart, 4)
	require.NoError(t, err)
	assert.Equal(t, []int{0, 1, 2, 3}, numbers(t, fw))
	for i, e := range fw {
		assert.Equal(t, uint64(i), e.Revision)
	}

	from, err := s.ReadStream(c, stream, domain.Forwards, 7, 100)
	require.NoError(t, err)
	assert.Equal(t, []int{7, 8, 9}, numbers(t, from))

	bw, err := s.ReadStream(c, stream, domain.Backwards, domain.StreamEnd, 3)
	require.NoError(t, err)
	assert.Equal(t, []int{9, 8, 7}, numbers(t, bw))

	bwFrom, err := s.ReadStream(c, stream, domain.Backwards, 2, 10)
	require.NoError(t, err)
	assert.Equal(t, []int{2, 1, 0}, numbers(t, bwFrom))

	past, err := s.ReadStream(c, stream, domain.Forwards, 10, 10)
	require.NoError(t, err)
	assert.Empty(t, past)

	// Positions rise with revisions.
	all, err := s.ReadStream(c, stream, domain.Forwards, domain.StreamStart, 100)
	require.NoError(t, err)
	require.Len(t, all, 10)
	for i := 1; i < len(all); i++ {
		assert.Greater(t, all[i].Position, all[i-1].Position)
	}
}

func testReadMissingStream(t *testing.T, s eventstore.Store) {
	c := ctx(t)
	stream := prefix(t) + "missing"
	_, err := s.ReadStream(c, stream, domain.Forwards, domain.StreamStart, 10)
	require.Error(t, err)
	assert.ErrorIs(t, err, domain.ErrStreamNotFound)
	assert.NotErrorIs(t, err, domain.ErrWrongExpectedRevision)
	_, err = s.ReadStream(c, stream, domain.Backwards, domain.StreamEnd, 10)
	assert.ErrorIs(t, err, domain.ErrStreamNotFound)
	// From a revision other than the ends, either way.
	_, err = s.ReadStream(c, stream, domain.Forwards, 5, 10)
	assert.ErrorIs(t, err, domain.ErrStreamNotFound)
	_, err = s.ReadStream(c, stream, domain.Backwards, 2, 10)
	assert.ErrorIs(t, err, domain.ErrStreamNotFound)
}

func testNoStreamTwice(t *testing.T, s eventstore.Store) {
	c := ctx(t)
	stream := prefix(t) + "once"
	_, err := s.Append(c, stream, domain.NoStream(), event("A", 1))
	require.NoError(t, err)
	_, err = s.Append(c, stream, domain.NoStream(), event("A", 2))
	require.Error(t, err)
	assert.ErrorIs(t, err, domain.ErrWrongExpectedRevision)
	var wrong *domain.WrongExpectedRevisionError
	require.True(t, errors.As(err, &wrong), "error is a *domain.WrongExpectedRevisionError: %v", err)
	assert.Equal(t, int64(0), wrong.Actual)

	evs, err := s.ReadStream(c, stream, domain.Forwards, domain.StreamStart, 10)
	require.NoError(t, err)
	assert.Len(t, evs, 1, "the failed append stored nothing")
}

func testExpectationRules(t *testing.T, s eventstore.Store) {
	c := ctx(t)
	p := prefix(t)

	// Exact revision on a missing stream fails; stream-exists on a missing stream fails.
	_, err := s.Append(c, p+"a", domain.ExactRevision(0), event("A", 1))
	assert.ErrorIs(t, err, domain.ErrWrongExpectedRevision)
	_, err = s.Append(c, p+"a", domain.StreamExists(), event("A", 1))
	assert.ErrorIs(t, err, domain.ErrWrongExpectedRevision)
	_, err = s.ReadStream(c, p+"a", domain.Forwards, domain.StreamStart, 1)
	assert.ErrorIs(t, err, domain.ErrStreamNotFound, "failed appends created nothing")

	res, err := s.Append(c, p+"a", domain.AnyRevision(), event("A", 1), event("A", 2))
	require.NoError(t, err)
	assert.Equal(t, uint64(1), res.NextExpectedRevision)

	res, err = s.Append(c, p+"a", domain.ExactRevision(1), event("A", 3))
	require.NoError(t, err)
	assert.Equal(t, uint64(2), res.NextExpectedRevision)

	_, err = s.Append(c, p+"a", domain.ExactRevision(5), event("A", 4))
	var wrong *domain.WrongExpectedRevisionError
	require.True(t, errors.As(err, &wrong), "ahead of the stream: %v", err)
	assert.Equal(t, int64(2), wrong.Actual)

	_, err = s.Append(c, p+"a", domain.ExactRevision(0), event("A", 4))
	assert.ErrorIs(t, err, domain.ErrWrongExpectedRevision, "behind the stream with new ids")

	res, err = s.Append(c, p+"a", domain.StreamExists(), event("A", 5))
	require.NoError(t, err)
	assert.Equal(t, uint64(3), res.NextExpectedRevision)
}

func testConcurrentAppendsOneWins(t *testing.T, s eventstore.Store) {
	c := ctx(t)
	stream := prefix(t) + "race"
	_, err := s.Append(c, stream, domain.NoStream(), event("Opened", 0))
	require.NoError(t, err)

	const workers = 20
	var wins, conflicts, other atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			_, err := s.Append(c, stream, domain.ExactRevision(0), event("Changed", i))
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, domain.ErrWrongExpectedRevision):
				conflicts.Add(1)
			default:
				other.Add(1)
				t.Errorf("unexpected error: %v", err)
			}
		}(i)
	}
	close(start)
	wg.Wait()
	assert.Equal(t, int32(1), wins.Load(), "exactly one append wins")
	assert.Equal(t, int32(workers-1), conflicts.Load())
	evs, err := s.ReadStream(c, stream, domain.Forwards, domain.StreamStart, 100)
	require.NoError(t, err)
	assert.Len(t, evs, 2)
}

func testIdempotentAppend(t *testing.T, s eventstore.Store) {
	c := ctx(t)
	p := prefix(t)

	// The same events appended twice with the same expectation are stored once.
	a := []domain.ProposedEvent{event("Msg", 1), event("Charge", 1)}
	first, err := s.Append(c, p+"no", domain.NoStream(), a...)
	require.NoError(t, err)
	again, err := s.Append(c, p+"no", domain.NoStream(), a...)
	require.NoError(t, err, "repeating an append with the same ids is idempotent")
	assert.False(t, first.Repeated, "the first append wrote its events")
	assert.Equal(t, landing(first), landing(again))

	b := []domain.ProposedEvent{event("Msg", 2)}
	second, err := s.Append(c, p+"no", domain.ExactRevision(1), b...)
	require.NoError(t, err)
	againB, err := s.Append(c, p+"no", domain.ExactRevision(1), b...)
	require.NoError(t, err)
	assert.False(t, second.Repeated)
	assert.Equal(t, landing(second), landing(againB))

	anyEv := event("Msg", 3)
	third, err := s.Append(c, p+"no", domain.AnyRevision(), anyEv)
	require.NoError(t, err)
	againAny, err := s.Append(c, p+"no", domain.AnyRevision(), anyEv)
	require.NoError(t, err)
	assert.False(t, third.Repeated)
	assert.Equal(t, landing(third), landing(againAny))

	evs, err := s.ReadStream(c, p+"no", domain.Forwards, domain.StreamStart, 100)
	require.NoError(t, err)
	require.Len(t, evs, 4, "nothing stored twice")

	// Twenty concurrent copies of one append: one stored, all succeed.
	dup := []domain.ProposedEvent{event("Msg", 9), event("Charge", 9)}
	var wg sync.WaitGroup
	results := make([]domain.AppendResult, 20)
	errs := make([]error, 20)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i], errs[i] = s.Append(c, p+"dup", domain.NoStream(), dup...)
		}(i)
	}
	wg.Wait()
	wrote := 0
	for i := range results {
		require.NoError(t, errs[i])
		assert.Equal(t, landing(results[0]), landing(results[i]))
		if !results[i].Repeated {
			wrote++
		}
	}
	assert.GreaterOrEqual(t, wrote, 1, "one copy wrote the events")
	evs, err = s.ReadStream(c, p+"dup", domain.Forwards, domain.StreamStart, 100)
	require.NoError(t, err)
	assert.Len(t, evs, 2)
}

// landing is where an append put its events, whether it wrote them or
// repeated them (AppendResult.Repeated, which a backend may not tell).
func landing(r domain.AppendResult) [2]uint64 {
	return [2]uint64{r.NextExpectedRevision, r.Position}
}

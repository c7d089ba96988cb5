// Package eventstoretest is the contract every event store backend must pass.
// Each backend's tests call Run with a factory; a backend is done when the
// suite is green. The suite tolerates foreign events in the log (a shared real
// KurrentDB): every test works on streams with its own random prefix.
package eventstoretest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/eventstore"
	"github.com/socialops/socialops/domain"
)

// Factory returns a store ready for use; it registers its own cleanup.
type Factory func(t *testing.T) eventstore.Store

// Run runs the whole contract suite against the store the factory makes.
func Run(t *testing.T, newStore Factory) {
	tests := []struct {
		name string
		fn   func(*testing.T, eventstore.Store)
	}{
		{"AppendAndReadRoundTrip", testAppendAndReadRoundTrip},
		{"ReadStreamDirectionsAndCounts", testReadStreamDirectionsAndCounts},
		{"ReadMissingStream", testReadMissingStream},
		{"NoStreamTwice", testNoStreamTwice},
		{"ExpectationRules", testExpectationRules},
		{"ConcurrentAppendsOneWins", testConcurrentAppendsOneWins},
		{"IdempotentAppendSameIDs", testIdempotentAppend},
		{"ReadAllAfterPosition", testReadAllAfterPosition},
		{"SubscriberSeesConcurrentAppendsOnceInOrder", testSubscriberSeesConcurrentAppends},
		{"SubscriberResumesFromStoredPosition", testSubscriberResumes},
		{"SubscribeHandlerErrorStops", testSubscribeHandlerErrorStops},
		{"AppendOverSizeLimitRefused", testAppendOverSizeLimit},
		{"IdentityIsStableAndHidden", testIdentityIsStableAndHidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := newStore(t)
			tc.fn(t, store)
		})
	}
}

func prefix(t *testing.T) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "ct" + hex.EncodeToString(b[:]) + "-"
}

func newID() string { return domain.RandomUUID(rand.Reader) }

func event(typ string, data any) domain.ProposedEvent {
	raw, err := json.Marshal(data)
	if err != nil {
		panic(err)
	}
	meta, _ := json.Marshal(domain.Metadata{EventID: "x", Actor: domain.Actor{Kind: domain.ActorSystem, ID: "contract"}})
	return domain.ProposedEvent{ID: newID(), Type: typ, Data: raw, Metadata: meta}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

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

func appendN(t *testing.T, s eventstore.Store, stream string, n int) []domain.ProposedEvent {
	evs := make([]domain.ProposedEvent, n)
	for i := range evs {
		evs[i] = event("Numbered", map[string]int{"n": i})
	}
	_, err := s.Append(ctx(t), stream, domain.AnyRevision(), evs...)
	require.NoError(t, err)
	return evs
}

func numbers(t *testing.T, evs []domain.RecordedEvent) []int {
	out := make([]int, len(evs))
	for i, e := range evs {
		var d struct{ N int }
		require.NoError(t, json.Unmarshal(e.Data, &d))
		out[i] = d.N
	}
	return out
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
	assert.Equal(t, first, again)

	b := []domain.ProposedEvent{event("Msg", 2)}
	second, err := s.Append(c, p+"no", domain.ExactRevision(1), b...)
	require.NoError(t, err)
	againB, err := s.Append(c, p+"no", domain.ExactRevision(1), b...)
	require.NoError(t, err)
	assert.Equal(t, second, againB)

	anyEv := event("Msg", 3)
	third, err := s.Append(c, p+"no", domain.AnyRevision(), anyEv)
	require.NoError(t, err)
	againAny, err := s.Append(c, p+"no", domain.AnyRevision(), anyEv)
	require.NoError(t, err)
	assert.Equal(t, third, againAny)

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
	for i := range results {
		require.NoError(t, errs[i])
		assert.Equal(t, results[0], results[i])
	}
	evs, err = s.ReadStream(c, p+"dup", domain.Forwards, domain.StreamStart, 100)
	require.NoError(t, err)
	assert.Len(t, evs, 2)
}

func testReadAllAfterPosition(t *testing.T, s eventstore.Store) {
	c := ctx(t)
	p := prefix(t)
	head, err := s.HeadPosition(c)
	require.NoError(t, err)
	appendN(t, s, p+"x", 3)
	appendN(t, s, p+"y", 2)
	newHead, err := s.HeadPosition(c)
	require.NoError(t, err)
	assert.Greater(t, newHead, head)

	mine := func(evs []domain.RecordedEvent) []domain.RecordedEvent {
		var out []domain.RecordedEvent
		for _, e := range evs {
			if strings.HasPrefix(e.StreamID, p) {
				out = append(out, e)
			}
		}
		return out
	}
	all, err := s.ReadAll(c, head, 1000)
	require.NoError(t, err)
	got := mine(all)
	require.Len(t, got, 5)
	for i := 1; i < len(got); i++ {
		assert.Greater(t, got[i].Position, got[i-1].Position)
	}
	assert.Equal(t, newHead, got[4].Position)

	rest, err := s.ReadAll(c, got[1].Position, 1000)
	require.NoError(t, err)
	rest = mine(rest)
	require.Len(t, rest, 3, "ReadAll is exclusive of the position it starts after")
	assert.Equal(t, got[2].ID, rest[0].ID)

	limited, err := s.ReadAll(c, head, 2)
	require.NoError(t, err)
	assert.LessOrEqual(t, len(limited), 2)
}

// collector gathers the events of one test's streams from a subscription.
type collector struct {
	prefix string
	mu     sync.Mutex
	seen   []domain.RecordedEvent
	notify chan struct{}
}

func newCollector(p string) *collector {
	return &collector{prefix: p, notify: make(chan struct{}, 1)}
}

func (c *collector) handle(_ context.Context, e domain.RecordedEvent) error {
	if !strings.HasPrefix(e.StreamID, c.prefix) {
		return nil
	}
	c.mu.Lock()
	c.seen = append(c.seen, e)
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
	return nil
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

func (c *collector) waitFor(t *testing.T, n int, within time.Duration) {
	deadline := time.After(within)
	for c.count() < n {
		select {
		case <-c.notify:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("subscriber saw %d of %d events in %s", c.count(), n, within)
		}
	}
}

func (c *collector) events() []domain.RecordedEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]domain.RecordedEvent(nil), c.seen...)
}

func testSubscriberSeesConcurrentAppends(t *testing.T, s eventstore.Store) {
	c := ctx(t)
	p := prefix(t)
	head, err := s.HeadPosition(c)
	require.NoError(t, err)

	col := newCollector(p)
	subCtx, stop := context.WithCancel(c)
	subDone := make(chan error, 1)
	go func() { subDone <- s.SubscribeAll(subCtx, head, col.handle) }()

	const appenders, perAppender = 8, 500
	var wg sync.WaitGroup
	for a := 0; a < appenders; a++ {
		wg.Add(1)
		go func(a int) {
			defer wg.Done()
			stream := fmt.Sprintf("%sappender-%d", p, a)
			for i := 0; i < perAppender; i++ {
				if _, err := s.Append(c, stream, domain.AnyRevision(), event("Numbered", map[string]int{"n": i})); err != nil {
					t.Errorf("append %s #%d: %v", stream, i, err)
					return
				}
			}
		}(a)
	}
	wg.Wait()
	col.waitFor(t, appenders*perAppender, 45*time.Second)
	// A little longer: anything beyond 4,000 would be a repeat.
	time.Sleep(200 * time.Millisecond)
	stop()
	require.NoError(t, <-subDone)

	got := col.events()
	require.Len(t, got, appenders*perAppender, "every event exactly once")
	ids := map[string]bool{}
	next := map[string]uint64{}
	for i, e := range got {
		require.False(t, ids[e.ID], "event %s delivered twice", e.ID)
		ids[e.ID] = true
		if i > 0 {
			require.Greater(t, e.Position, got[i-1].Position, "delivered in position order")
		}
		require.Equal(t, next[e.StreamID], e.Revision, "stream %s in revision order, no gap", e.StreamID)
		next[e.StreamID]++
	}
}

func testSubscriberResumes(t *testing.T, s eventstore.Store) {
	c := ctx(t)
	p := prefix(t)
	head, err := s.HeadPosition(c)
	require.NoError(t, err)
	appendN(t, s, p+"r", 50)

	// First run: stop after 20 events, remembering the last position handled.
	var last uint64
	var handled int
	errStop := errors.New("stop here")
	err = s.SubscribeAll(c, head, func(_ context.Context, e domain.RecordedEvent) error {
		if !strings.HasPrefix(e.StreamID, p) {
			return nil
		}
		handled++
		last = e.Position
		if handled == 20 {
			return errStop
		}
		return nil
	})
	require.ErrorIs(t, err, errStop)

	// More events arrive while nobody listens.
	appendN(t, s, p+"r", 30)

	// Second run from the stored position: events 20..79, no gap, no repeat.
	col := newCollector(p)
	subCtx, stop := context.WithCancel(c)
	done := make(chan error, 1)
	go func() { done <- s.SubscribeAll(subCtx, last, col.handle) }()
	col.waitFor(t, 60, 20*time.Second)
	// Live events after catching up.
	appendN(t, s, p+"r", 5)
	col.waitFor(t, 65, 20*time.Second)
	time.Sleep(100 * time.Millisecond)
	stop()
	require.NoError(t, <-done)
	got := col.events()
	require.Len(t, got, 65)
	for i, e := range got {
		assert.Equal(t, uint64(20+i), e.Revision, "resumed without gap or repeat")
	}
}

func testSubscribeHandlerErrorStops(t *testing.T, s eventstore.Store) {
	c := ctx(t)
	p := prefix(t)
	head, err := s.HeadPosition(c)
	require.NoError(t, err)
	appendN(t, s, p+"h", 3)
	boom := errors.New("poison")
	calls := 0
	err = s.SubscribeAll(c, head, func(_ context.Context, e domain.RecordedEvent) error {
		if !strings.HasPrefix(e.StreamID, p) {
			return nil
		}
		calls++
		return boom
	})
	assert.ErrorIs(t, err, boom, "a handler error ends the subscription with that error")
	assert.Equal(t, 1, calls, "no event after the failing one is delivered")
}

// testAppendOverSizeLimit: an append larger than domain.MaxAppendBytes (the
// KurrentDB server's default MaxAppendSize) is refused with
// domain.ErrAppendTooLarge on every backend and stores nothing; one just
// under it is stored.
func testAppendOverSizeLimit(t *testing.T, s eventstore.Store) {
	c := ctx(t)
	p := prefix(t)
	sized := func(total int) []domain.ProposedEvent {
		// Two events, so the limit is on the append and not on one event.
		var out []domain.ProposedEvent
		for i := 0; i < 2; i++ {
			ev := event("Sized", map[string]string{"pad": ""})
			pad := total/2 - domain.AppendSize([]domain.ProposedEvent{ev})
			ev.Data = []byte(`{"pad":"` + strings.Repeat("a", pad) + `"}`)
			out = append(out, ev)
		}
		return out
	}
	over := sized(domain.MaxAppendBytes + 64)
	require.Greater(t, domain.AppendSize(over), domain.MaxAppendBytes)
	_, err := s.Append(c, p+"big", domain.NoStream(), over...)
	require.ErrorIs(t, err, domain.ErrAppendTooLarge)
	_, err = s.ReadStream(c, p+"big", domain.Forwards, domain.StreamStart, 10)
	require.ErrorIs(t, err, domain.ErrStreamNotFound, "a refused append stores nothing")

	under := sized(domain.MaxAppendBytes - 64)
	require.LessOrEqual(t, domain.AppendSize(under), domain.MaxAppendBytes)
	_, err = s.Append(c, p+"fits", domain.NoStream(), under...)
	require.NoError(t, err)
	got, err := s.ReadStream(c, p+"fits", domain.Forwards, domain.StreamStart, 10)
	require.NoError(t, err)
	require.Len(t, got, 2)
}

// The store's identity is made once and kept: every call answers the same id,
// and keeping it adds nothing a reader of the log would see.
func testIdentityIsStableAndHidden(t *testing.T, s eventstore.Store) {
	ctx := context.Background()
	head, err := s.HeadPosition(ctx)
	require.NoError(t, err)
	var wg sync.WaitGroup
	ids := make([]string, 4)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, err := s.Identity(ctx)
			assert.NoError(t, err)
			ids[i] = id
		}()
	}
	wg.Wait()
	require.NotEmpty(t, ids[0])
	for _, id := range ids {
		assert.Equal(t, ids[0], id, "concurrent first calls agree")
	}
	again, err := s.Identity(ctx)
	require.NoError(t, err)
	assert.Equal(t, ids[0], again)
	// Other writers may share a real KurrentDB: look for the identity only.
	evs, err := s.ReadAll(ctx, head, 1000)
	require.NoError(t, err)
	for _, e := range evs {
		assert.NotContains(t, e.StreamID+e.Type+string(e.Data), ids[0], "the identity is not an event of the log")
	}
}

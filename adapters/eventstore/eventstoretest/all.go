package eventstoretest

// The contract for $all reads and subscriptions.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/eventstore"
	"github.com/socialops/socialops/domain"
)

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

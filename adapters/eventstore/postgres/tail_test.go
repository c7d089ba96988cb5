package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	pgstore "github.com/socialops/socialops/adapters/eventstore/postgres"
	"github.com/socialops/socialops/adapters/postgres/pgtest"
	"github.com/socialops/socialops/domain"
)

// Two processes append to one log at once (groups, conflicts, repeats);
// every $all read through either store's tail, at every position, equals
// the same read from a store that holds nothing yet (the database's
// answer), and a subscriber of each process gets every event once, in order.
func TestTailReadsEqualTheDatabase(t *testing.T) {
	pool := pgtest.NewPool(t)
	a, b := pgstore.New(pool, nil), pgstore.New(pool, nil)
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	const appends = 300
	got := make([][]domain.RecordedEvent, 2)
	var subs sync.WaitGroup
	for i, s := range []*pgstore.Store{a, b} {
		subs.Add(1)
		go func() {
			defer subs.Done()
			_ = s.SubscribeAll(ctx, 0, func(_ context.Context, e domain.RecordedEvent) error {
				got[i] = append(got[i], e)
				return nil
			})
		}()
	}

	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := []*pgstore.Store{a, b}[w%2]
			for n := range appends / 8 {
				stream := fmt.Sprintf("tail-%d", n%5) // streams shared by writers: some appends conflict
				first := ev("A")
				_, _ = s.AppendMulti(ctx,
					domain.StreamAppend{Stream: fmt.Sprintf("claim-%d-%d", w, n), Expected: domain.NoStream(), Events: []domain.ProposedEvent{first}},
					domain.StreamAppend{Stream: stream, Expected: domain.AnyRevision(), Events: []domain.ProposedEvent{ev("B"), ev("C")}})
				if n%7 == 0 { // a repeat of a stored event: an idempotent success
					_, err := s.Append(ctx, fmt.Sprintf("claim-%d-%d", w, n), domain.NoStream(), first)
					require.NoError(t, err)
				}
				if n%11 == 0 { // a conflict: nothing stored
					_, err := s.Append(ctx, stream, domain.NoStream(), ev("D"))
					require.ErrorIs(t, err, domain.ErrWrongExpectedRevision)
				}
			}
		}()
	}
	wg.Wait()

	head, err := a.HeadPosition(ctx)
	require.NoError(t, err)
	fresh := pgstore.New(pool, nil)
	t.Cleanup(func() { _ = fresh.Close() })
	want, err := fresh.ReadAll(ctx, 0, head+10)
	require.NoError(t, err)
	require.Len(t, want, int(head))
	for _, s := range []*pgstore.Store{a, b} {
		for after := uint64(0); after <= head; after += 3 {
			for _, count := range []uint64{1, 7, 512} {
				evs, err := s.ReadAll(ctx, after, count)
				require.NoError(t, err)
				if end := min(after+count, head); end > after {
					require.Equal(t, want[after:end], evs, "after %d, count %d", after, count)
				} else {
					require.Empty(t, evs, "after the head")
				}
			}
		}
	}
	require.Eventually(t, func() bool {
		subs := 0
		for _, g := range got {
			if len(g) == int(head) {
				subs++
			}
		}
		return subs == 2
	}, 10*time.Second, 10*time.Millisecond)
	cancel()
	subs.Wait()
	for i := range got {
		require.Equal(t, want, got[i], "subscriber of process %d", i)
	}
}

// A process holds what it wrote, not what another process wrote between: a
// read from its tail stops at the gap and takes the rest from the database.
func TestTailReadsPastAnotherProcessesAppends(t *testing.T) {
	pool := pgtest.NewPool(t)
	a, b := pgstore.New(pool, nil), pgstore.New(pool, nil)
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	ctx := context.Background()
	for i, s := range []*pgstore.Store{a, b, a, a, b, a} {
		_, err := s.Append(ctx, fmt.Sprintf("gap-%d", i), domain.NoStream(), ev("A"))
		require.NoError(t, err)
	}
	for _, s := range []*pgstore.Store{a, b} {
		for after := range uint64(6) {
			evs, err := s.ReadAll(ctx, after, 10)
			require.NoError(t, err)
			require.Len(t, evs, int(6-after), "after %d", after)
			for i, e := range evs {
				require.Equal(t, after+uint64(i)+1, e.Position)
				require.Equal(t, fmt.Sprintf("gap-%d", after+uint64(i)), e.StreamID)
			}
		}
	}
}

// Events written without this store (another process whose notification has
// not come yet, a bulk load) are in ReadAll's answer at once: the tail gives
// only the run it holds, and the database the rest of the page.
func TestReadAllIncludesEventsTheTailNeverSaw(t *testing.T) {
	pool := pgtest.NewPool(t)
	s := pgstore.New(pool, nil)
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	for i := range 3 {
		_, err := s.Append(ctx, fmt.Sprintf("own-%d", i), domain.NoStream(), ev("A"))
		require.NoError(t, err)
	}
	_, err := pgtest.CopyEvents(ctx, pool, func(emit func(pgtest.BulkEvent) bool) error {
		for i := range 2 {
			emit(pgtest.BulkEvent{Stream: fmt.Sprintf("loaded-%d", i), Event: ev("B")})
		}
		return nil
	})
	require.NoError(t, err)
	for after := range uint64(5) {
		evs, err := s.ReadAll(ctx, after, 100)
		require.NoError(t, err)
		require.Len(t, evs, int(5-after), "after %d", after)
		require.Equal(t, "loaded-1", evs[len(evs)-1].StreamID)
	}
}

// Subscribers follow their own process's appends from the tail. The echo of
// an append (its notification, which may come before the writer has put the
// events in the tail) neither announces events the tail lacks nor wakes them
// once more for nothing new: either sent them to the database. Another
// process's appends still reach them, read from the database on its
// notification.
func TestSubscriptionsFollowTheirOwnProcessFromMemory(t *testing.T) {
	pool := pgtest.NewPool(t)
	a, b := pgstore.New(pool, nil), pgstore.New(pool, nil)
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	const subscribers = 3
	var mu sync.Mutex
	got := make([][]uint64, subscribers)
	for i := range subscribers {
		go func() {
			_ = a.SubscribeAll(ctx, 0, func(_ context.Context, e domain.RecordedEvent) error {
				mu.Lock()
				got[i] = append(got[i], e.Position)
				mu.Unlock()
				return nil
			})
		}()
	}
	appended := uint64(0)
	// appendAndWait appends n events from 8 appenders at once, so that they
	// share batches, and waits until every subscriber has them.
	appendAndWait := func(s *pgstore.Store, n int) {
		t.Helper()
		var wg sync.WaitGroup
		var last sync.Mutex
		from := appended
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < n; i += 8 {
					res, err := s.Append(ctx, fmt.Sprintf("own-%d-%d", from, i), domain.NoStream(), ev("A"))
					if !assert.NoError(t, err) {
						return
					}
					last.Lock()
					appended = max(appended, res.Position)
					last.Unlock()
				}
			}()
		}
		wg.Wait()
		require.Eventually(t, func() bool {
			mu.Lock()
			defer mu.Unlock()
			for _, g := range got {
				if len(g) == 0 || g[len(g)-1] != appended {
					return false
				}
			}
			return true
		}, 10*time.Second, time.Millisecond, "every subscriber got position %d", appended)
	}
	// Subscribers start with a read of the database; wait until they follow
	// (and the listener listens).
	require.Eventually(t, func() bool {
		before := a.SubscriptionReads()
		appendAndWait(a, 1)
		return a.SubscriptionReads() == before
	}, 10*time.Second, 10*time.Millisecond)

	before, start := a.SubscriptionReads(), time.Now()
	appendAndWait(a, 200)
	// Each subscriber reads the database at most once per poll interval
	// (500 ms) while it follows from memory.
	allowed := subscribers * (int(time.Since(start)/(500*time.Millisecond)) + 2)
	reads := int(a.SubscriptionReads() - before)
	require.LessOrEqual(t, reads, allowed, "200 appends of this process, %d subscribers: %d database reads", subscribers, reads)

	appendAndWait(b, 20)
	mu.Lock()
	defer mu.Unlock()
	for i, g := range got {
		require.Len(t, g, int(appended), "subscriber %d: every event once", i)
		for j, p := range g {
			require.Equal(t, uint64(j+1), p, "subscriber %d: in order", i)
		}
	}
}

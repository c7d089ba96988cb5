package eventstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/eventstore"
	pgstore "github.com/socialops/socialops/adapters/eventstore/postgres"
	"github.com/socialops/socialops/adapters/postgres/pgtest"
	"github.com/socialops/socialops/domain"
)

// A paced topic catches up at full speed (full batches never wait) and,
// once live, gathers the events that arrive within its interval into one
// batch.
func TestPacedTopicWaitsOnlyWhenLive(t *testing.T) {
	s := pgstore.New(pgtest.NewPool(t), nil)
	t.Cleanup(func() { _ = s.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	appendOne := func(i int) {
		_, err := s.Append(ctx, fmt.Sprintf("paced-%d", i), domain.NoStream(),
			domain.ProposedEvent{ID: domain.RandomUUID(domain.CryptoRandom), Type: "Paced", Data: []byte(`{}`), Metadata: []byte(`{}`)})
		require.NoError(t, err)
	}
	const backlog = 300
	for i := range backlog {
		appendOne(i)
	}

	const interval = 2 * time.Second
	sub := &eventstore.WatermillSubscriber{
		Store:      s,
		Checkpoint: func(context.Context, string) (uint64, error) { return 0, nil },
		BatchSize:  10,
		Interval:   func(string) time.Duration { return interval },
	}
	t.Cleanup(func() { _ = sub.Close() })
	msgs, err := sub.Subscribe(ctx, "paced")
	require.NoError(t, err)
	var mu sync.Mutex
	var batches [][]domain.RecordedEvent
	go func() {
		for msg := range msgs {
			batch, err := eventstore.DecodeBatch(msg)
			if err == nil {
				mu.Lock()
				batches = append(batches, batch)
				mu.Unlock()
			}
			msg.Ack()
		}
	}()
	delivered := func() (events, n int) {
		mu.Lock()
		defer mu.Unlock()
		for _, b := range batches {
			events += len(b)
		}
		return events, len(batches)
	}
	// Full batches go at once; only the backlog's last batch may wait one
	// interval, when it is not full (the first batch takes what is waiting,
	// so the batches need not fall on multiples of ten). Paced batch by
	// batch, the backlog would take 29 intervals.
	start := time.Now()
	require.Eventually(t, func() bool { e, _ := delivered(); return e == backlog }, 10*time.Second, 5*time.Millisecond)
	require.Less(t, time.Since(start), 2*interval, "the backlog's batches waited for the interval more than once")

	_, before := delivered()
	for i := range 5 {
		appendOne(backlog + i)
		time.Sleep(10 * time.Millisecond)
	}
	require.Eventually(t, func() bool { e, _ := delivered(); return e == backlog+5 }, 3*interval, 5*time.Millisecond)
	_, after := delivered()
	require.LessOrEqual(t, after-before, 2, "five live events 10 ms apart came in at most two batches")
}

package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/postgres/pgtest"
	"github.com/socialops/socialops/domain"
)

// Every path that assigns positions takes the same append lock
// (appendLockKey, migrations/00034): while another transaction holds it, each
// waits, and goes on once it is released. A path that took another lock, or
// none, would assign positions beside a running append, and a catch-up reader
// could skip an event.
func TestEveryWriterTakesTheAppendLock(t *testing.T) {
	pool := pgtest.NewPool(t)
	s := New(pool, nil)
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()

	event := func(typ string) domain.ProposedEvent {
		return domain.ProposedEvent{ID: domain.RandomUUID(domain.CryptoRandom), Type: typ, Data: []byte(`{}`), Metadata: []byte(`{}`)}
	}
	stored := event("Stored")
	_, err := s.Append(ctx, "lock-checked", domain.NoStream(), stored)
	require.NoError(t, err)

	writers := []struct {
		name  string
		write func() error
	}{
		{"one append to one stream (event_store_append_one)", func() error {
			_, err := s.Append(ctx, "lock-one", domain.AnyRevision(), event("One"), event("Two"))
			return err
		}},
		{"a batch (event_store_append)", func() error {
			_, err := s.AppendMulti(ctx,
				domain.StreamAppend{Stream: "lock-a", Expected: domain.NoStream(), Events: []domain.ProposedEvent{event("A")}},
				domain.StreamAppend{Stream: "lock-b", Expected: domain.NoStream(), Events: []domain.ProposedEvent{event("B")}},
			)
			return err
		}},
		{"the checked path for possible repeats", func() error {
			req, err := newAppendRequest(ctx, []domain.StreamAppend{
				{Stream: "lock-checked", Expected: domain.ExactRevision(0), Events: []domain.ProposedEvent{event("After")}},
			})
			if err != nil {
				return err
			}
			out, err := s.runChecked(ctx, req)
			if err != nil {
				return err
			}
			return out.err
		}},
		{"the tests' bulk loader", func() error {
			_, err := pgtest.CopyEvents(ctx, pool, func(emit func(pgtest.BulkEvent) bool) error {
				emit(pgtest.BulkEvent{Stream: "lock-bulk", Event: event("Bulk")})
				return nil
			})
			return err
		}},
	}
	for _, w := range writers {
		t.Run(w.name, func(t *testing.T) {
			before := headPosition(t, s)
			release := holdAppendLock(t, pool)
			done := make(chan error, 1)
			go func() { done <- w.write() }()
			select {
			case err := <-done:
				release()
				t.Fatalf("wrote while another transaction held the append lock (err %v)", err)
			case <-time.After(300 * time.Millisecond):
			}
			release()
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(10 * time.Second):
				t.Fatal("still waiting after the append lock was released")
			}
			require.Greater(t, headPosition(t, s), before)
		})
	}

	// The positions stayed dense through every path.
	var count, head int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*), max(position) FROM event_store_events`).Scan(&count, &head))
	require.Equal(t, count, head)
}

// holdAppendLock takes the append lock in a transaction of its own; release
// commits it.
func holdAppendLock(t *testing.T, pool *pgxpool.Pool) (release func()) {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, appendLockKey)
	require.NoError(t, err)
	released := false
	release = func() {
		if !released {
			released = true
			require.NoError(t, tx.Commit(ctx))
		}
	}
	t.Cleanup(release)
	return release
}

func headPosition(t *testing.T, s *Store) uint64 {
	t.Helper()
	head, err := s.HeadPosition(context.Background())
	require.NoError(t, err)
	return head
}

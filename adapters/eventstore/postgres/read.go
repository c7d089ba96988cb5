package postgres

// Reads of the Postgres event store: stream reads, $all reads and the
// catch-up subscription.

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/socialops/socialops/domain"
)

const selectEvents = `SELECT stream_name, revision, position, event_id, event_type, data, metadata, created_at FROM event_store_events `

func scanEvents(rows pgx.Rows) ([]domain.RecordedEvent, error) {
	defer rows.Close()
	var out []domain.RecordedEvent
	for rows.Next() {
		var e domain.RecordedEvent
		var rev, pos int64
		var id uuid.UUID
		if err := rows.Scan(&e.StreamID, &rev, &pos, (*[16]byte)(&id), &e.Type, &e.Data, &e.Metadata, &e.Created); err != nil {
			return nil, err
		}
		e.Revision, e.Position, e.ID = uint64(rev), uint64(pos), id.String()
		out = append(out, e)
	}
	return out, rows.Err()
}

func clampInt64(v uint64) int64 {
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}

// ReadStream implements eventstore.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, direction domain.ReadDirection, from uint64, count uint64) ([]domain.RecordedEvent, error) {
	if count == 0 {
		return nil, nil
	}
	query := selectEvents + `WHERE stream_name = $1 AND revision >= $2 ORDER BY revision LIMIT $3`
	if direction == domain.Backwards {
		query = selectEvents + `WHERE stream_name = $1 AND revision <= $2 ORDER BY revision DESC LIMIT $3`
	}
	// Revisions are dense from 0 and events are never removed, so a stream
	// exists exactly when it has an event at revision 0. A read that would
	// return that event if there were one (forwards from 0, or backwards
	// from anywhere) is empty only for a missing stream: one query says both.
	// (A new thread's first webhook reads its stream this way.)
	if direction == domain.Backwards || from == 0 {
		rows, err := s.pool.Query(ctx, query, stream, clampInt64(from), clampInt64(count))
		if err != nil {
			return nil, fmt.Errorf("read stream %s: %w", stream, err)
		}
		evs, err := scanEvents(rows)
		if err != nil {
			return nil, fmt.Errorf("read stream %s: %w", stream, err)
		}
		if len(evs) == 0 {
			return nil, &domain.StreamNotFoundError{Stream: stream}
		}
		return evs, nil
	}
	// Forwards past revision 0, an empty answer must tell a missing stream
	// from a read past its end: the events and whether the stream exists, in
	// one round trip.
	var evs []domain.RecordedEvent
	exists := false
	b := &pgx.Batch{}
	b.Queue(query, stream, clampInt64(from), clampInt64(count)).Query(func(rows pgx.Rows) error {
		var err error
		evs, err = scanEvents(rows)
		return err
	})
	b.Queue(`SELECT EXISTS (SELECT 1 FROM event_store_events WHERE stream_name = $1)`, stream).QueryRow(func(row pgx.Row) error {
		return row.Scan(&exists)
	})
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("read stream %s: %w", stream, err)
	}
	if !exists {
		return nil, &domain.StreamNotFoundError{Stream: stream}
	}
	return evs, nil
}

// ReadAll implements eventstore.Store: the run of events the tail holds
// right after after (see tail.go), the rest of the page from the database.
func (s *Store) ReadAll(ctx context.Context, after uint64, count uint64) ([]domain.RecordedEvent, error) {
	return s.readAllVia(ctx, after, count, false)
}

// readAllVia is ReadAll; for a subscription (following), a run that reaches
// the newest event known here is the whole answer.
func (s *Store) readAllVia(ctx context.Context, after uint64, count uint64, following bool) ([]domain.RecordedEvent, error) {
	if count == 0 {
		return nil, nil
	}
	held, gap := s.tail.read(after, count)
	n := uint64(len(held))
	if n == count || following && n > 0 && !gap {
		return held, nil
	}
	if n > 0 {
		after, count = held[n-1].Position, count-n
	}
	if following {
		s.subscriptionReads.Add(1)
	}
	evs, err := s.readAll(ctx, after, count)
	if err != nil {
		return nil, err
	}
	s.tail.put(evs)
	return append(held, evs...), nil
}

func (s *Store) readAll(ctx context.Context, after uint64, count uint64) ([]domain.RecordedEvent, error) {
	rows, err := s.pool.Query(ctx, selectEvents+`WHERE position > $1 ORDER BY position LIMIT $2`, clampInt64(after), clampInt64(count))
	if err != nil {
		return nil, fmt.Errorf("read all: %w", err)
	}
	evs, err := scanEvents(rows)
	if err != nil {
		return nil, fmt.Errorf("read all: %w", err)
	}
	return evs, nil
}

// SubscribeAll implements eventstore.Store. It pages through the log and then
// waits for a notification (from this process, or from LISTEN for others),
// polling as a fallback. Read errors (a database restart) are retried with
// backoff from the last delivered position.
func (s *Store) SubscribeAll(ctx context.Context, after uint64, handle func(context.Context, domain.RecordedEvent) error) error {
	pos := after
	backoff := 100 * time.Millisecond
	for {
		woken := s.wake.wait()
		evs, err := s.readAllVia(ctx, pos, readPageSize, true)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.logger.Warn("subscription read failed; retrying", "after_position", pos, "backoff_ms", backoff.Milliseconds(), "error", err)
			if !sleep(ctx, backoff) {
				return nil
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		for _, e := range evs {
			if err := handle(ctx, e); err != nil {
				return err
			}
			pos = e.Position
		}
		if len(evs) == readPageSize {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-woken:
		case <-time.After(pollInterval):
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// HeadPosition implements eventstore.Store.
func (s *Store) HeadPosition(ctx context.Context) (uint64, error) {
	var head int64
	// The greatest position: one backward probe of the primary key.
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(max(position), 0) FROM event_store_events`).Scan(&head); err != nil {
		return 0, fmt.Errorf("read head position: %w", err)
	}
	return uint64(head), nil
}

// Package postgres is the Postgres event store, the default backend.
//
// Appends from every process are serialized by a row lock on
// event_store_head, taken first in each append transaction, and positions are
// assigned under that lock. A transaction therefore commits (and becomes
// visible) before the next one can assign a position, so a reader that sees
// position N has every position below N too: catch-up readers never skip an
// event, which a bare bigserial with concurrent writers cannot promise.
//
// Serializing would cost one disk flush per append, so each Store batches the
// appends waiting at the same moment into one transaction (group commit). Each
// append in a batch keeps its own expectation check and its own outcome; an
// append returns only after its batch committed.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/socialops/socialops/domain"
)

const (
	notifyChannel   = "socialops_events"
	maxBatchAppends = 512
	maxBatchBytes   = 8 << 20
	readPageSize    = 512
	pollInterval    = 500 * time.Millisecond
)

// ErrClosed is returned by appends after Close.
var ErrClosed = errors.New("event store closed")

// Store is the Postgres event store.
type Store struct {
	pool   *pgxpool.Pool
	logger *slog.Logger

	requests chan *appendRequest
	closing  chan struct{}
	stopped  chan struct{} // closed when the write loop has returned
	wg       sync.WaitGroup
	stopOnce sync.Once

	wake *broadcaster

	observer atomic.Pointer[observerBox]
}

// New starts a store on a migrated database (migrations/00001_event_store.sql).
func New(pool *pgxpool.Pool, logger *slog.Logger) *Store {
	if logger == nil {
		logger = slog.Default()
	}
	s := &Store{
		pool:     pool,
		logger:   logger.With("component", "eventstore.postgres"),
		requests: make(chan *appendRequest, 4*maxBatchAppends),
		closing:  make(chan struct{}),
		stopped:  make(chan struct{}),
		wake:     newBroadcaster(),
	}
	s.wg.Add(2)
	go s.writeLoop()
	go s.listenLoop()
	return s
}

type appendRequest struct {
	ctx      context.Context
	stream   string
	expected domain.ExpectedRevision
	events   []domain.ProposedEvent
	ids      []uuid.UUID
	size     int
	done     chan appendOutcome
}

type appendOutcome struct {
	res domain.AppendResult
	err error
}

// Append implements eventstore.Store.
func (s *Store) Append(ctx context.Context, stream string, expected domain.ExpectedRevision, events ...domain.ProposedEvent) (domain.AppendResult, error) {
	req, err := newAppendRequest(ctx, stream, expected, events)
	if err != nil {
		return domain.AppendResult{}, err
	}
	select {
	case <-s.closing:
		return domain.AppendResult{}, ErrClosed
	default:
	}
	select {
	case s.requests <- req:
	case <-ctx.Done():
		return domain.AppendResult{}, ctx.Err()
	case <-s.closing:
		return domain.AppendResult{}, ErrClosed
	}
	return s.await(ctx, req)
}

// await waits for a queued request's outcome. A request that reached the
// queue just after the write loop drained it for Close is never taken: once
// the loop has stopped, an outcome not already sent will never come.
func (s *Store) await(ctx context.Context, req *appendRequest) (domain.AppendResult, error) {
	select {
	case out := <-req.done:
		return out.res, out.err
	case <-ctx.Done():
		// The append may still commit; a retry with the same event ids is idempotent.
		return domain.AppendResult{}, ctx.Err()
	case <-s.stopped:
		select {
		case out := <-req.done:
			return out.res, out.err
		default:
			return domain.AppendResult{}, ErrClosed
		}
	}
}

func newAppendRequest(ctx context.Context, stream string, expected domain.ExpectedRevision, events []domain.ProposedEvent) (*appendRequest, error) {
	if stream == "" {
		return nil, errors.New("append: empty stream name")
	}
	if len(events) == 0 {
		return nil, errors.New("append: no events")
	}
	if err := domain.CheckAppendSize(stream, events); err != nil {
		return nil, err
	}
	req := &appendRequest{ctx: ctx, stream: stream, expected: expected, events: events, done: make(chan appendOutcome, 1)}
	seen := make(map[uuid.UUID]bool, len(events))
	for i, ev := range events {
		if ev.Type == "" {
			return nil, fmt.Errorf("append: event %d has no type", i)
		}
		id, err := uuid.Parse(ev.ID)
		if err != nil {
			return nil, fmt.Errorf("append: event %d id %q is not a UUID", i, ev.ID)
		}
		if seen[id] {
			return nil, fmt.Errorf("append: event id %s appears twice", id)
		}
		seen[id] = true
		req.ids = append(req.ids, id)
		req.size += len(ev.Data) + len(ev.Metadata) + len(ev.Type) + 64
	}
	return req, nil
}

func (s *Store) writeLoop() {
	defer s.wg.Done()
	defer close(s.stopped)
	for {
		var first *appendRequest
		select {
		case first = <-s.requests:
		case <-s.closing:
			// Finish what was queued before Close, then stop.
			for {
				select {
				case r := <-s.requests:
					s.commitBatch(s.collect(r))
				default:
					return
				}
			}
		}
		s.commitBatch(s.collect(first))
	}
}

// collect takes the first request and whatever else is already waiting.
func (s *Store) collect(first *appendRequest) []*appendRequest {
	batch := []*appendRequest{first}
	size := first.size
	for len(batch) < maxBatchAppends && size < maxBatchBytes {
		select {
		case r := <-s.requests:
			batch = append(batch, r)
			size += r.size
		default:
			return batch
		}
	}
	return batch
}

type storedID struct {
	stream   string
	revision int64
	position int64
}

func (s *Store) commitBatch(batch []*appendRequest) {
	live := batch[:0]
	for _, r := range batch {
		if r.ctx.Err() != nil {
			r.done <- appendOutcome{err: r.ctx.Err()}
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	started := time.Now()
	outcomes, err := s.runBatch(ctx, live)
	s.observeBatch(live, time.Since(started), err)
	if err != nil {
		for _, r := range live {
			r.done <- appendOutcome{err: fmt.Errorf("append to %s: %w", r.stream, err)}
		}
		return
	}
	for i, r := range live {
		r.done <- outcomes[i]
	}
	s.wake.notify()
}

// runBatch commits a batch in two pipelined round trips: the first opens the
// transaction, takes the head lock and reads the streams' revisions and any
// stored copies of the proposed event ids; the second writes and commits.
func (s *Store) runBatch(ctx context.Context, batch []*appendRequest) ([]appendOutcome, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Release()
	committed := false
	defer func() {
		if !committed {
			// Leave no open transaction on a connection going back to the pool.
			if _, err := conn.Exec(context.Background(), "ROLLBACK"); err != nil {
				conn.Conn().Close(context.Background()) //nolint:errcheck
			}
		}
	}()

	streamSet := map[string]bool{}
	var streams []string
	var allIDs []uuid.UUID
	for _, r := range batch {
		if !streamSet[r.stream] {
			streamSet[r.stream] = true
			streams = append(streams, r.stream)
		}
		allIDs = append(allIDs, r.ids...)
	}

	read := &pgx.Batch{}
	read.Queue("BEGIN")
	var head int64
	var now time.Time
	read.Queue(`SELECT position, now() FROM event_store_head WHERE id = 1 FOR UPDATE`).QueryRow(func(row pgx.Row) error {
		return row.Scan(&head, &now)
	})
	current := make(map[string]int64, len(streams))
	read.Queue(`SELECT stream_name, revision FROM event_store_streams WHERE stream_name = ANY($1)`, streams).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var name string
			var rev int64
			if err := rows.Scan(&name, &rev); err != nil {
				return err
			}
			current[name] = rev
		}
		return rows.Err()
	})
	known := map[uuid.UUID][]storedID{}
	read.Queue(`SELECT event_id, stream_name, revision, position FROM event_store_events WHERE event_id = ANY($1)`, allIDs).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var id uuid.UUID
			var sid storedID
			if err := rows.Scan(&id, &sid.stream, &sid.revision, &sid.position); err != nil {
				return err
			}
			known[id] = append(known[id], sid)
		}
		return rows.Err()
	})
	if err := conn.SendBatch(ctx, read).Close(); err != nil {
		return nil, fmt.Errorf("lock head and read streams: %w", err)
	}

	outcomes := make([]appendOutcome, len(batch))
	var (
		positions, revisions []int64
		names, types         []string
		ids                  []uuid.UUID
		datas, metas         [][]byte
	)
	pos := head
	touched := map[string]int64{}
	for i, r := range batch {
		cur, exists := current[r.stream]
		if !exists {
			cur = -1
		}
		if res, ok, err := idempotentResult(r, cur, known); ok {
			outcomes[i] = appendOutcome{res: res, err: err}
			continue
		}
		if err := checkExpected(r, cur); err != nil {
			outcomes[i] = appendOutcome{err: err}
			continue
		}
		for j, ev := range r.events {
			pos++
			cur++
			positions, revisions = append(positions, pos), append(revisions, cur)
			names, types, ids = append(names, r.stream), append(types, ev.Type), append(ids, r.ids[j])
			datas, metas = append(datas, nonNil(ev.Data)), append(metas, nonNil(ev.Metadata))
			known[r.ids[j]] = append(known[r.ids[j]], storedID{stream: r.stream, revision: cur, position: pos})
		}
		current[r.stream] = cur
		touched[r.stream] = cur
		outcomes[i] = appendOutcome{res: domain.AppendResult{NextExpectedRevision: uint64(cur), Position: uint64(pos)}}
	}

	write := &pgx.Batch{}
	if len(positions) > 0 {
		write.Queue(`INSERT INTO event_store_events (position, stream_name, revision, event_id, event_type, data, metadata, created_at)
			SELECT p, s, r, i, t, d, m, $8 FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::uuid[], $5::text[], $6::bytea[], $7::bytea[]) AS u(p, s, r, i, t, d, m)`,
			positions, names, revisions, ids, types, datas, metas, now)
		tNames := make([]string, 0, len(touched))
		tRevs := make([]int64, 0, len(touched))
		for n, r := range touched {
			tNames = append(tNames, n)
			tRevs = append(tRevs, r)
		}
		write.Queue(`INSERT INTO event_store_streams (stream_name, revision)
			SELECT * FROM unnest($1::text[], $2::bigint[])
			ON CONFLICT (stream_name) DO UPDATE SET revision = EXCLUDED.revision`, tNames, tRevs)
		write.Queue(`UPDATE event_store_head SET position = $1 WHERE id = 1`, pos)
		write.Queue(`SELECT pg_notify($1, $2)`, notifyChannel, fmt.Sprint(pos))
	}
	write.Queue("COMMIT")
	if err := conn.SendBatch(ctx, write).Close(); err != nil {
		return nil, fmt.Errorf("write events: %w", err)
	}
	committed = true
	return outcomes, nil
}

// idempotentResult applies KurrentDB's rule: events whose ids are already
// stored where this append would put them make the append a success that
// stores nothing. ok is false when the append is not a repeat.
func idempotentResult(r *appendRequest, cur int64, known map[uuid.UUID][]storedID) (domain.AppendResult, bool, error) {
	at := func(id uuid.UUID) (storedID, bool) {
		for _, s := range known[id] {
			if s.stream == r.stream {
				return s, true
			}
		}
		return storedID{}, false
	}
	first, ok := at(r.ids[0])
	if !ok {
		return domain.AppendResult{}, false, nil
	}
	// Where the first event must sit for the append to be a repeat.
	want := first.revision
	if exact, isExact := r.expected.Exact(); isExact {
		want = int64(exact) + 1
	} else if r.expected.IsNoStream() {
		want = 0
	}
	if first.revision != want {
		return domain.AppendResult{}, false, nil
	}
	last := first
	for j := 1; j < len(r.ids); j++ {
		s, ok := at(r.ids[j])
		if !ok || s.revision != first.revision+int64(j) {
			// Part of the append is stored, part is not: refuse, as KurrentDB does.
			return domain.AppendResult{}, true, &domain.WrongExpectedRevisionError{Stream: r.stream, Expected: r.expected, Actual: cur}
		}
		last = s
	}
	return domain.AppendResult{NextExpectedRevision: uint64(last.revision), Position: uint64(last.position)}, true, nil
}

func checkExpected(r *appendRequest, cur int64) error {
	ok := true
	switch {
	case r.expected.IsAny():
	case r.expected.IsNoStream():
		ok = cur == -1
	case r.expected.IsStreamExists():
		ok = cur >= 0
	default:
		exact, _ := r.expected.Exact()
		ok = cur >= 0 && uint64(cur) == exact
	}
	if !ok {
		return &domain.WrongExpectedRevisionError{Stream: r.stream, Expected: r.expected, Actual: cur}
	}
	return nil
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

const selectEvents = `SELECT stream_name, revision, position, event_id, event_type, data, metadata, created_at FROM event_store_events `

func scanEvents(rows pgx.Rows) ([]domain.RecordedEvent, error) {
	defer rows.Close()
	var out []domain.RecordedEvent
	for rows.Next() {
		var e domain.RecordedEvent
		var rev, pos int64
		var id uuid.UUID
		if err := rows.Scan(&e.StreamID, &rev, &pos, &id, &e.Type, &e.Data, &e.Metadata, &e.Created); err != nil {
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
	// The events and whether the stream exists, in one round trip: an empty
	// answer must tell a missing stream from a read past its end.
	var evs []domain.RecordedEvent
	exists := false
	b := &pgx.Batch{}
	b.Queue(query, stream, clampInt64(from), clampInt64(count)).Query(func(rows pgx.Rows) error {
		var err error
		evs, err = scanEvents(rows)
		return err
	})
	b.Queue(`SELECT EXISTS (SELECT 1 FROM event_store_streams WHERE stream_name = $1)`, stream).QueryRow(func(row pgx.Row) error {
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

// ReadAll implements eventstore.Store.
func (s *Store) ReadAll(ctx context.Context, after uint64, count uint64) ([]domain.RecordedEvent, error) {
	if count == 0 {
		return nil, nil
	}
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
		evs, err := s.ReadAll(ctx, pos, readPageSize)
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
	if err := s.pool.QueryRow(ctx, `SELECT position FROM event_store_head WHERE id = 1`).Scan(&head); err != nil {
		return 0, fmt.Errorf("read head position: %w", err)
	}
	return uint64(head), nil
}

// Ping implements eventstore.Store.
func (s *Store) Ping(ctx context.Context) error {
	_, err := s.HeadPosition(ctx)
	return err
}

// Close stops accepting appends, commits what was queued, and stops the listener.
func (s *Store) Close() error {
	s.stopOnce.Do(func() { close(s.closing) })
	s.wg.Wait()
	return nil
}

// listenLoop wakes subscribers when another process appends.
func (s *Store) listenLoop() {
	defer s.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-s.closing
		cancel()
	}()
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listen(ctx)
		if ctx.Err() != nil {
			return
		}
		s.logger.Debug("event notification listener stopped; retrying", "error", err, "backoff_ms", backoff.Milliseconds())
		s.wake.notify() // let subscribers poll meanwhile
		if !sleep(ctx, backoff) {
			return
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (s *Store) listen(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return err
	}
	defer func() {
		// The connection goes back to the pool: stop listening on it first.
		c, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if _, err := conn.Exec(c, "UNLISTEN *"); err != nil {
			conn.Conn().Close(c) //nolint:errcheck
		}
	}()
	for {
		if _, err := conn.Conn().WaitForNotification(ctx); err != nil {
			return err
		}
		s.wake.notify()
	}
}

// broadcaster wakes every waiter at once: wait returns a channel that the next
// notify closes.
type broadcaster struct {
	mu sync.Mutex
	ch chan struct{}
}

func newBroadcaster() *broadcaster { return &broadcaster{ch: make(chan struct{})} }

func (b *broadcaster) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ch
}

func (b *broadcaster) notify() {
	b.mu.Lock()
	close(b.ch)
	b.ch = make(chan struct{})
	b.mu.Unlock()
}

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

// writers is how many batches may be in flight at once. More than one would
// let the next batch wait at the head lock in the server rather than in this
// process, but measured (issue 21) 2 and 4 writers made batches smaller and
// throughput lower at 8 appenders, so one batch is in flight.
var writers = 1

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
	s.wg.Add(1 + writers)
	loops := &sync.WaitGroup{}
	loops.Add(writers)
	for range writers {
		go s.writeLoop(loops)
	}
	go func() { loops.Wait(); close(s.stopped) }()
	go s.listenLoop()
	return s
}

// appendRequest is one Append (one part) or one AppendMulti (several parts,
// applied whole or not at all).
type appendRequest struct {
	ctx   context.Context
	parts []appendPart
	size  int
	done  chan appendOutcome
}

type appendPart struct {
	stream   string
	expected domain.ExpectedRevision
	events   []domain.ProposedEvent
	ids      []uuid.UUID
}

// appendOutcome is a request's outcome: one result per part, or the error
// (for a group, that of the part that failed).
type appendOutcome struct {
	res []domain.AppendResult
	err error
}

// Append implements eventstore.Store.
func (s *Store) Append(ctx context.Context, stream string, expected domain.ExpectedRevision, events ...domain.ProposedEvent) (domain.AppendResult, error) {
	res, err := s.AppendMulti(ctx, domain.StreamAppend{Stream: stream, Expected: expected, Events: events})
	if err != nil {
		return domain.AppendResult{}, err
	}
	return res[0], nil
}

// AppendMulti appends to several streams in one transaction: every part is
// stored, or (when one part's expectation fails) none is and the error is
// that part's. Each part keeps Append's rules, idempotency included. No
// stream may appear twice.
func (s *Store) AppendMulti(ctx context.Context, appends ...domain.StreamAppend) ([]domain.AppendResult, error) {
	req, err := newAppendRequest(ctx, appends)
	if err != nil {
		return nil, err
	}
	select {
	case <-s.closing:
		return nil, ErrClosed
	default:
	}
	select {
	case s.requests <- req:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.closing:
		return nil, ErrClosed
	}
	return s.await(ctx, req)
}

// await waits for a queued request's outcome. A request that reached the
// queue just after the write loop drained it for Close is never taken: once
// the loop has stopped, an outcome not already sent will never come.
func (s *Store) await(ctx context.Context, req *appendRequest) ([]domain.AppendResult, error) {
	select {
	case out := <-req.done:
		return out.res, out.err
	case <-ctx.Done():
		// The append may still commit; a retry with the same event ids is idempotent.
		return nil, ctx.Err()
	case <-s.stopped:
		select {
		case out := <-req.done:
			return out.res, out.err
		default:
			return nil, ErrClosed
		}
	}
}

func newAppendRequest(ctx context.Context, appends []domain.StreamAppend) (*appendRequest, error) {
	if len(appends) == 0 {
		return nil, errors.New("append: no streams")
	}
	req := &appendRequest{ctx: ctx, done: make(chan appendOutcome, 1)}
	streams := make(map[string]bool, len(appends))
	for _, a := range appends {
		if a.Stream == "" {
			return nil, errors.New("append: empty stream name")
		}
		if streams[a.Stream] {
			return nil, fmt.Errorf("append: stream %s appears twice in one atomic append", a.Stream)
		}
		streams[a.Stream] = true
		if len(a.Events) == 0 {
			return nil, errors.New("append: no events")
		}
		if err := domain.CheckAppendSize(a.Stream, a.Events); err != nil {
			return nil, err
		}
		part := appendPart{stream: a.Stream, expected: a.Expected, events: a.Events, ids: make([]uuid.UUID, 0, len(a.Events))}
		seen := make(map[uuid.UUID]bool, len(a.Events))
		for i, ev := range a.Events {
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
			part.ids = append(part.ids, id)
			req.size += len(ev.Data) + len(ev.Metadata) + len(ev.Type) + 64
		}
		req.parts = append(req.parts, part)
	}
	return req, nil
}

func (s *Store) writeLoop(loops *sync.WaitGroup) {
	defer s.wg.Done()
	defer loops.Done()
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
	outcomes, deferred, err := s.runBatch(ctx, live)
	s.observeBatch(live, time.Since(started), err)
	if err != nil {
		for _, r := range live {
			r.done <- appendOutcome{err: fmt.Errorf("append to %s: %w", r.parts[0].stream, err)}
		}
		return
	}
	wrote := false
	for i, r := range live {
		if deferred[i] {
			continue
		}
		if outcomes[i].err == nil {
			wrote = true
		}
		r.done <- outcomes[i]
	}
	// Possible repeats: decided one request at a time with the whole rule,
	// each in its own transaction after the batch.
	for i, r := range live {
		if !deferred[i] {
			continue
		}
		started := time.Now()
		out, err := s.runChecked(ctx, r)
		s.observeBatch(live[i:i+1], time.Since(started), err)
		if err != nil {
			out = appendOutcome{err: fmt.Errorf("append to %s: %w", r.parts[0].stream, err)}
		}
		if out.err == nil {
			wrote = true
		}
		r.done <- out
	}
	if wrote {
		s.wake.notify()
	}
}

// Outcome codes of event_store_append (migrations/00014).
const (
	statusApplied  = 0
	statusWrong    = 1
	statusSkipped  = 2
	statusDeferred = 3
)

func expectationCode(e domain.ExpectedRevision) int64 {
	switch {
	case e.IsNoStream():
		return -1
	case e.IsAny():
		return -2
	case e.IsStreamExists():
		return -3
	}
	exact, _ := e.Exact()
	return clampInt64(exact)
}

// runBatch commits a batch in one round trip: one call of
// event_store_append, in its own (autocommit) transaction. A request that
// may be a repeat of stored events (its first event id is already in its
// stream, or in an earlier request of this batch) is deferred: deferred[i]
// says so, and the caller decides it with runChecked.
func (s *Store) runBatch(ctx context.Context, batch []*appendRequest) ([]appendOutcome, []bool, error) {
	deferred := make([]bool, len(batch))
	type key struct {
		stream string
		id     uuid.UUID
	}
	seenIDs := map[key]bool{}
	for i, r := range batch {
		for _, p := range r.parts {
			if seenIDs[key{p.stream, p.ids[0]}] {
				deferred[i] = true
			}
		}
		if deferred[i] {
			continue
		}
		for _, p := range r.parts {
			for _, id := range p.ids {
				seenIDs[key{p.stream, id}] = true
			}
		}
	}

	var (
		aStream             []string
		aExpected           []int64
		aCount, aPrev, aGrp []int32
		aFirst              []uuid.UUID
		eStream, eType      []string
		eID                 []uuid.UUID
		eData, eMeta        [][]byte
		sent                []int // batch index of each group sent
	)
	lastOf := map[string]int32{}
	for i, r := range batch {
		if deferred[i] {
			continue
		}
		sent = append(sent, i)
		for _, p := range r.parts {
			aStream = append(aStream, p.stream)
			aExpected = append(aExpected, expectationCode(p.expected))
			aCount = append(aCount, int32(len(p.events)))
			aFirst = append(aFirst, p.ids[0])
			aPrev = append(aPrev, lastOf[p.stream])
			aGrp = append(aGrp, int32(len(sent)))
			lastOf[p.stream] = int32(len(aStream))
			for j, ev := range p.events {
				eStream, eID, eType = append(eStream, p.stream), append(eID, p.ids[j]), append(eType, ev.Type)
				eData, eMeta = append(eData, nonNil(ev.Data)), append(eMeta, nonNil(ev.Metadata))
			}
		}
	}
	outcomes := make([]appendOutcome, len(batch))
	if len(sent) == 0 {
		return outcomes, deferred, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT status, revision, position FROM event_store_append($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		aStream, aExpected, aCount, aFirst, aPrev, aGrp, eStream, eID, eType, eData, eMeta)
	if err != nil {
		return nil, nil, err
	}
	type answer struct {
		status   int16
		revision int64
		position *int64
	}
	answers := make([]answer, 0, len(aStream))
	for rows.Next() {
		var a answer
		if err := rows.Scan(&a.status, &a.revision, &a.position); err != nil {
			rows.Close()
			return nil, nil, err
		}
		answers = append(answers, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	if len(answers) != len(aStream) {
		return nil, nil, fmt.Errorf("event_store_append answered %d rows for %d appends", len(answers), len(aStream))
	}
	k := 0
	for _, i := range sent {
		r := batch[i]
		res := make([]domain.AppendResult, len(r.parts))
		var failure error
		for j, p := range r.parts {
			a := answers[k]
			k++
			switch a.status {
			case statusApplied:
				if a.position == nil {
					return nil, nil, fmt.Errorf("event_store_append applied %s without a position", p.stream)
				}
				res[j] = domain.AppendResult{NextExpectedRevision: uint64(a.revision), Position: uint64(*a.position)}
			case statusWrong:
				failure = &domain.WrongExpectedRevisionError{Stream: p.stream, Expected: p.expected, Actual: a.revision}
			case statusDeferred:
				deferred[i] = true
			case statusSkipped:
			default:
				return nil, nil, fmt.Errorf("event_store_append: unknown status %d", a.status)
			}
		}
		switch {
		case deferred[i]:
		case failure != nil:
			outcomes[i] = appendOutcome{err: failure}
		default:
			outcomes[i] = appendOutcome{res: res}
		}
	}
	return outcomes, deferred, nil
}

// runChecked decides one request that may repeat stored events with the
// whole idempotency rule, in two pipelined round trips: the first opens a
// transaction, takes the head lock and reads the streams' revisions and any
// stored copies of the proposed event ids; the second writes and commits, or
// rolls back when a part fails.
func (s *Store) runChecked(ctx context.Context, r *appendRequest) (appendOutcome, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return appendOutcome{}, err
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

	var streams []string
	var allIDs []uuid.UUID
	for _, p := range r.parts {
		streams = append(streams, p.stream)
		allIDs = append(allIDs, p.ids...)
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
		return appendOutcome{}, fmt.Errorf("lock head and read streams: %w", err)
	}

	var (
		positions, revisions []int64
		names, types         []string
		ids                  []uuid.UUID
		datas, metas         [][]byte
	)
	pos := head
	touched := map[string]int64{}
	res := make([]domain.AppendResult, len(r.parts))
	var failure error
	for i, p := range r.parts {
		cur, exists := current[p.stream]
		if !exists {
			cur = -1
		}
		if rres, ok, err := idempotentResult(p, cur, known); ok {
			if err != nil {
				failure = err
				break
			}
			res[i] = rres
			continue
		}
		if err := checkExpected(p, cur); err != nil {
			failure = err
			break
		}
		for j, ev := range p.events {
			pos++
			cur++
			positions, revisions = append(positions, pos), append(revisions, cur)
			names, types, ids = append(names, p.stream), append(types, ev.Type), append(ids, p.ids[j])
			datas, metas = append(datas, nonNil(ev.Data)), append(metas, nonNil(ev.Metadata))
		}
		current[p.stream] = cur
		touched[p.stream] = cur
		res[i] = domain.AppendResult{NextExpectedRevision: uint64(cur), Position: uint64(pos)}
	}
	if failure != nil {
		return appendOutcome{err: failure}, nil // the deferred ROLLBACK stores nothing
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
		return appendOutcome{}, fmt.Errorf("write events: %w", err)
	}
	committed = true
	return appendOutcome{res: res}, nil
}

// idempotentResult applies KurrentDB's rule: events whose ids are already
// stored where this append would put them make the append a success that
// stores nothing. ok is false when the append is not a repeat.
func idempotentResult(r appendPart, cur int64, known map[uuid.UUID][]storedID) (domain.AppendResult, bool, error) {
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

func checkExpected(r appendPart, cur int64) error {
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

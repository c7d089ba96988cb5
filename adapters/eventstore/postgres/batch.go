package postgres

// One group-commit batch of the Postgres event store: the server-side append
// function, the checked path for possible repeats, and the expectation rules.

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/migrations"
)

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
	s.flight.RLock()
	outcomes, deferred, err := s.runBatch(ctx, live)
	s.flight.RUnlock()
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

// appendLockKey is the advisory lock that serializes every writer of the log
// (migrations/00034): the append functions take it, and so must anything
// else that assigns positions.
const appendLockKey = migrations.EventStoreAppendLock

// Outcome codes of the batch functions (event_store_append, migrations/00014,
// and event_store_append_packed, 00042) and of event_store_append_one (00034).
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
// event_store_append_packed, in its own (autocommit) transaction. A request
// that may be a repeat of stored events (its first event id is already in
// its stream, or in an earlier request of this batch) is deferred:
// deferred[i] says so, and the caller decides it with runChecked.
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

	var sent []int // batch index of each request sent
	for i := range batch {
		if !deferred[i] {
			sent = append(sent, i)
		}
	}
	outcomes := make([]appendOutcome, len(batch))
	if len(sent) == 0 {
		return outcomes, deferred, nil
	}
	if len(sent) == 1 && len(batch[sent[0]].parts) == 1 {
		i := sent[0]
		out, repeat, err := s.runOne(ctx, batch[i])
		if err != nil {
			return nil, nil, err
		}
		outcomes[i], deferred[i] = out, repeat
		return outcomes, deferred, nil
	}
	call := newBatchCall(batch, deferred)
	rows, err := s.pool.Query(ctx, appendBatchSQL, call.args()...)
	if err != nil {
		return nil, nil, err
	}
	answers := make([]answer, 0, len(call.aStream))
	for rows.Next() {
		var a answer
		if err := rows.Scan(&a.status, &a.revision, &a.position, &a.created); err != nil {
			rows.Close()
			return nil, nil, err
		}
		answers = append(answers, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	if len(answers) != len(call.aStream) {
		return nil, nil, fmt.Errorf("event_store_append_packed answered %d rows for %d appends", len(answers), len(call.aStream))
	}
	k := 0
	var written []domain.RecordedEvent
	for _, i := range sent {
		r := batch[i]
		var err error
		outcomes[i], deferred[i], written, err = r.outcomeOf(answers[k:k+len(r.parts)], written)
		if err != nil {
			return nil, nil, err
		}
		k += len(r.parts)
	}
	s.tail.put(written)
	return outcomes, deferred, nil
}

// appendBatchSQL calls event_store_append_packed with the events' bodies
// packed (packedBodies). The blob is the last parameter, so pgx grows its
// buffer for it once. A single append (runOne) passes its few bodies as
// arrays: packing them measured the same there.
const appendBatchSQL = `SELECT status, revision, position, created_at
	FROM event_store_append_packed($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`

// batchCall is the arguments of event_store_append_packed for the requests
// of a batch that are not deferred, in order: per append (part) its stream,
// expectation, event count, first event id, the batch's previous append to
// the same stream (1-based, 0 for none), its group (request) and the events
// of the batch's earlier appends to the same stream; per event its append,
// its revision counted from the stream's revision before the batch (1-based,
// as if every append applies), id, type, and body.
type batchCall struct {
	aStream                []string
	aExpected              []int64
	aCount, aPrev, aGrp    []int32
	aBefore, eApp, eRevOff []int32
	aFirst, eID            [][16]byte
	eType                  []string
	bodies                 *packedBodies
}

func newBatchCall(batch []*appendRequest, deferred []bool) *batchCall {
	c := &batchCall{}
	nEvents, size := 0, 0
	for i, r := range batch {
		if !deferred[i] {
			n, sz := bodiesSize(r.parts)
			nEvents, size = nEvents+n, size+sz
		}
	}
	c.bodies = packBodies(nEvents, size)
	lastOf := map[string]int32{}   // the stream's last append so far (1-based)
	eventsOf := map[string]int32{} // the events of the stream's appends so far
	group := int32(0)
	for i, r := range batch {
		if deferred[i] {
			continue
		}
		group++
		for _, p := range r.parts {
			c.aStream = append(c.aStream, p.stream)
			c.aExpected = append(c.aExpected, expectationCode(p.expected))
			c.aCount = append(c.aCount, int32(len(p.events)))
			c.aFirst = append(c.aFirst, p.ids[0])
			c.aPrev = append(c.aPrev, lastOf[p.stream])
			c.aGrp = append(c.aGrp, group)
			before := eventsOf[p.stream]
			c.aBefore = append(c.aBefore, before)
			lastOf[p.stream] = int32(len(c.aStream))
			eventsOf[p.stream] = before + int32(len(p.events))
			for j, ev := range p.events {
				c.eApp, c.eRevOff = append(c.eApp, int32(len(c.aStream))), append(c.eRevOff, before+int32(j)+1)
				c.eID, c.eType = append(c.eID, p.ids[j]), append(c.eType, ev.Type)
				c.bodies.add(ev.Data, ev.Metadata)
			}
		}
	}
	return c
}

// args is the call's parameters, in the order of appendBatchSQL.
func (c *batchCall) args() []any {
	return []any{c.aStream, c.aExpected, c.aCount, c.aFirst, c.aPrev, c.aGrp, c.aBefore, c.eApp, c.eRevOff, c.eID, c.eType,
		c.bodies.dataOff, c.bodies.dataLen, c.bodies.metaOff, c.bodies.metaLen, c.bodies.blob}
}

// answer is what an append function answered for one part of a request.
type answer struct {
	status   int16
	revision int64
	position *int64
	created  time.Time
}

// outcomeOf turns the answers for r's parts into its outcome, or says that
// r may repeat stored events (deferred: runChecked decides it). The events
// of the applied parts are added to written, as the log holds them.
func (r *appendRequest) outcomeOf(answers []answer, written []domain.RecordedEvent) (out appendOutcome, deferred bool, _ []domain.RecordedEvent, err error) {
	res := make([]domain.AppendResult, len(r.parts))
	var failure error
	for j, p := range r.parts {
		a := answers[j]
		switch a.status {
		case statusApplied:
			if a.position == nil {
				return appendOutcome{}, false, written, fmt.Errorf("append function applied %s without a position", p.stream)
			}
			res[j] = domain.AppendResult{NextExpectedRevision: uint64(a.revision), Position: uint64(*a.position)}
			written = appendRecorded(written, p, uint64(a.revision), uint64(*a.position), a.created)
		case statusWrong:
			failure = &domain.WrongExpectedRevisionError{Stream: p.stream, Expected: p.expected, Actual: a.revision}
		case statusDeferred:
			deferred = true
		case statusSkipped:
		default:
			return appendOutcome{}, false, written, fmt.Errorf("append function: unknown status %d", a.status)
		}
	}
	switch {
	case deferred:
		return appendOutcome{}, true, written, nil
	case failure != nil:
		return appendOutcome{err: failure}, false, written, nil
	}
	return appendOutcome{res: res}, false, written, nil
}

// runOne commits a batch of one append to one stream with
// event_store_append_one: the same rule as event_store_append without its
// batch bookkeeping. repeat says the append may repeat stored events and is
// left to runChecked.
func (s *Store) runOne(ctx context.Context, r *appendRequest) (out appendOutcome, repeat bool, err error) {
	p := r.parts[0]
	types := make([]string, len(p.events))
	datas := make([][]byte, len(p.events))
	metas := make([][]byte, len(p.events))
	for j, ev := range p.events {
		types[j], datas[j], metas[j] = ev.Type, nonNil(ev.Data), nonNil(ev.Metadata)
	}
	var a answer
	err = s.pool.QueryRow(ctx, `SELECT status, revision, position, created_at FROM event_store_append_one($1, $2, $3, $4, $5, $6)`,
		p.stream, expectationCode(p.expected), wireIDs(p.ids), types, datas, metas).Scan(&a.status, &a.revision, &a.position, &a.created)
	if err != nil {
		return appendOutcome{}, false, err
	}
	out, repeat, written, err := r.outcomeOf([]answer{a}, nil)
	if err != nil {
		return appendOutcome{}, false, err
	}
	s.tail.put(written)
	return out, repeat, nil
}

// appendRecorded adds the events of an applied part to dst as the log holds
// them: its last event is at revision last and position pos, and the ones
// before it at the revisions and positions just below.
func appendRecorded(dst []domain.RecordedEvent, p appendPart, last, pos uint64, created time.Time) []domain.RecordedEvent {
	n := uint64(len(p.events))
	for j, ev := range p.events {
		back := n - 1 - uint64(j)
		dst = append(dst, domain.RecordedEvent{StreamID: p.stream, Revision: last - back, Position: pos - back,
			ID: p.ids[j].String(), Type: ev.Type, Data: nonNil(ev.Data), Metadata: nonNil(ev.Metadata), Created: created})
	}
	return dst
}

// runChecked decides one request that may repeat stored events with the
// whole idempotency rule, in two pipelined round trips: the first opens a
// transaction, takes the append lock and reads the head, the streams'
// revisions and any stored copies of the proposed event ids; the second
// writes and commits, or rolls back when a part fails.
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
	var allIDs [][16]byte
	for _, p := range r.parts {
		streams = append(streams, p.stream)
		allIDs = append(allIDs, wireIDs(p.ids)...)
	}

	read := &pgx.Batch{}
	read.Queue("BEGIN")
	var head int64
	var now time.Time
	read.Queue(`SELECT pg_advisory_xact_lock($1)`, appendLockKey)
	// Each statement of the pipeline reads with a snapshot of its own, taken
	// after the lock: every earlier append is visible to them.
	read.Queue(`SELECT coalesce(max(position), 0), now() FROM event_store_events`).QueryRow(func(row pgx.Row) error {
		return row.Scan(&head, &now)
	})
	current := make(map[string]int64, len(streams))
	read.Queue(`SELECT u.name, (SELECT max(e.revision) FROM event_store_events e WHERE e.stream_name = u.name)
		FROM unnest($1::text[]) AS u(name)`, streams).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var name string
			var rev *int64
			if err := rows.Scan(&name, &rev); err != nil {
				return err
			}
			if rev != nil {
				current[name] = *rev
			}
		}
		return rows.Err()
	})
	known := map[uuid.UUID][]storedID{}
	read.Queue(`SELECT event_id, stream_name, revision, position FROM event_store_events WHERE event_id = ANY($1)`, allIDs).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var id uuid.UUID
			var sid storedID
			if err := rows.Scan((*[16]byte)(&id), &sid.stream, &sid.revision, &sid.position); err != nil {
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
		ids                  [][16]byte
		datas, metas         [][]byte
	)
	pos := head
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
		write.Queue(`SELECT pg_notify($1, $2)`, notifyChannel, fmt.Sprint(pos))
	}
	write.Queue("COMMIT")
	if err := conn.SendBatch(ctx, write).Close(); err != nil {
		return appendOutcome{}, fmt.Errorf("write events: %w", err)
	}
	committed = true
	if len(positions) > 0 {
		// Not kept in the tail, but known there: a read of the tail stops
		// before these positions and takes them from the database.
		s.tail.committed(uint64(pos))
	}
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
	return domain.AppendResult{NextExpectedRevision: uint64(last.revision), Position: uint64(last.position), Repeated: true}, true, nil
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

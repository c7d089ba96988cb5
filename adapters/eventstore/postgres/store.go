// Package postgres is the Postgres event store, the default backend.
//
// Appends from every process are serialized by a transaction-scoped advisory
// lock (appendLockKey), taken first in each append transaction, and positions
// are assigned under that lock, after the greatest one stored. The lock is
// released only once the transaction has committed and is visible, so a
// transaction commits (and becomes visible) before the next one can assign a
// position: a reader that sees position N has every position below N too.
// Catch-up readers never skip an event, which a bare bigserial with
// concurrent writers cannot promise.
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
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
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
	tail *tail
	// flight is held (shared) by a writer from sending a batch until its
	// events are in the tail; the listener takes it exclusively before it
	// handles a notification, so the echo of this process's own append never
	// announces events the tail does not hold yet (which sent every woken
	// subscriber to the database for them).
	flight sync.RWMutex
	// subscriptionReads counts the database reads of subscriptions.
	subscriptionReads atomic.Uint64

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
		tail:     newTail(),
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

// wireIDs hands event ids to pgx as [16]byte, which it encodes as uuid
// directly. A uuid.UUID is a driver.Valuer, and pgx takes that path first:
// each id became a string and was parsed back, a twentieth of the CPU of a
// webhook (issue 21). Scans read into *[16]byte for the same reason.
func wireIDs(ids []uuid.UUID) [][16]byte {
	out := make([][16]byte, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
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
	var rule gatherRule
	for {
		var first *appendRequest
		select {
		case first = <-s.requests:
		case <-s.closing:
			// Finish what was queued before Close, then stop.
			for {
				select {
				case r := <-s.requests:
					batch, _ := collect(s.requests, r, nil)
					s.commitBatch(batch)
				default:
					return
				}
			}
		}
		batch, gathered := collect(s.requests, first, rule.yield())
		rule.sealed(len(batch), gathered)
		s.commitBatch(batch)
	}
}

// Ping implements eventstore.Store.
func (s *Store) Ping(ctx context.Context) error {
	_, err := s.HeadPosition(ctx)
	return err
}

// SubscriptionReads is how many times subscriptions have read the database
// rather than taking the events from the tail (see tail.go): when woken with
// nothing new in it (another process's append, a poll), or behind it.
func (s *Store) SubscriptionReads() uint64 { return s.subscriptionReads.Load() }

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
		n, err := conn.Conn().WaitForNotification(ctx)
		if err != nil {
			return err
		}
		// Let this process's batch in flight put its events in the tail:
		// the notification may be its echo.
		s.flight.Lock()
		s.flight.Unlock() //nolint:staticcheck // an empty critical section: waiting is the point
		// The payload is the head position after the append that notified.
		// Subscribers are woken for news only: this process's own appends
		// woke them already.
		if pos, err := strconv.ParseUint(n.Payload, 10, 64); err != nil || s.tail.committed(pos) {
			s.wake.notify()
		}
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

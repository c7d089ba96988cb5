// Package kurrentdb is the KurrentDB (EventStoreDB) backend of the event store
// port, spoken to through EventStore-Client-Go v4. It imports the domain and the
// port only; nothing above the adapters layer may import it except the wiring.
//
// The v4.2.0 client has sharp edges this package works around (see
// shared/design/KURRENTDB-DOUBLE.md): it resolves its connection without looking
// at the caller's context, it closes itself for good when discovery fails, its
// subscriptions never resubscribe, and esdb.FromError cannot classify errors.
package kurrentdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/socialops/socialops/adapters/eventstore"
	"github.com/socialops/socialops/domain"
)

const (
	// pingTimeout bounds Ping even when the caller's context has no deadline:
	// a health check that hangs is worse than one that fails.
	pingTimeout = 3 * time.Second

	// Resubscription backoff after a dropped subscription.
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second

	// readPage is the batch size of the $all reads that skip system events.
	readPage = 256

	// closeGrace is how long Close waits for calls still inside the client.
	// Closing the client under them can panic (a send on its closed channel).
	closeGrace = 5 * time.Second
)

// ErrClosed is returned by calls made after Close, and by SubscribeAll when
// the store is closed under it.
var ErrClosed = errors.New("kurrentdb: store closed")

var _ eventstore.Store = (*Store)(nil)

// Store is the KurrentDB event store.
type Store struct {
	cfg    *esdb.Configuration
	logger *slog.Logger

	mu       sync.Mutex
	client   *esdb.Client
	closed   bool
	inflight sync.WaitGroup // calls that may still touch client

	// closing ends with Close, so that running subscriptions stop.
	closing     context.Context
	cancelClose context.CancelFunc
}

// Open connects to the KurrentDB at url (esdb://host:2113?tls=false) and checks
// that it answers before returning.
func Open(ctx context.Context, url string, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("store", "kurrentdb")
	cfg, err := esdb.ParseConnectionString(url)
	if err != nil {
		return nil, fmt.Errorf("kurrentdb: parse connection string: %w", err)
	}
	cfg.Logger = clientLogger(logger)
	client, err := esdb.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("kurrentdb: new client: %w", err)
	}
	closing, cancel := context.WithCancel(context.Background())
	s := &Store{cfg: cfg, logger: logger, client: client, closing: closing, cancelClose: cancel}
	// The client connects lazily; connecting here makes a wrong URL fail at
	// start-up rather than on the first command.
	if _, err := s.readAllPage(ctx, esdb.Backwards, esdb.End{}, 1); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("kurrentdb: connect to %s: %w", cfg.Address, err)
	}
	return s, nil
}

// clientLogger routes the client's printf-style logs to slog. The client logs
// every dropped subscription and failed call at error level, including the
// ones this adapter expects and handles, so its errors become warnings here;
// the adapter logs the consequences itself.
func clientLogger(logger *slog.Logger) esdb.LoggingFunc {
	logger = logger.With("component", "esdb-client")
	return func(level esdb.LogLevel, format string, args ...any) {
		lvl := slog.LevelDebug
		switch level {
		case esdb.LogWarn, esdb.LogError:
			lvl = slog.LevelWarn
		}
		ctx := context.Background()
		if logger.Enabled(ctx, lvl) {
			logger.Log(ctx, lvl, fmt.Sprintf(format, args...))
		}
	}
}

// acquire hands out the current client and counts the caller in inflight.
func (s *Store) acquire() (*esdb.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	s.inflight.Add(1)
	return s.client, nil
}

// replace swaps a client that closed itself (its discovery failed) for a fresh
// one. The dead client is not closed: a goroutine may still be blocked sending
// to it, and closing it would turn that into a panic.
func (s *Store) replace(dead *esdb.Client) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if s.client == dead {
		fresh, err := esdb.NewClient(s.cfg)
		if err != nil {
			return false
		}
		s.client = fresh
		s.logger.Warn("client closed itself after a failed discovery; replaced it")
	}
	return true
}

// call runs op with the current client. The client looks up its connection
// before it looks at ctx, and that can take MaxDiscoverAttempts × GossipTimeout
// against an unreachable host, so op runs on its own goroutine and the caller
// leaves as soon as ctx ends. A client that closed itself is replaced and op
// retried once: a closed client sent nothing to the server.
func (s *Store) call(ctx context.Context, op func(context.Context, *esdb.Client) error) error {
	for attempt := 0; ; attempt++ {
		client, err := s.acquire()
		if err != nil {
			return err
		}
		done := make(chan error, 1)
		go func() {
			defer s.inflight.Done()
			done <- op(ctx, client)
		}()
		select {
		case err = <-done:
		case <-ctx.Done():
			select {
			case err = <-done: // finished as ctx ended: its answer is better than ctx's
			default:
				return ctx.Err()
			}
		}
		if attempt == 0 && hasCode(err, esdb.ErrorCodeConnectionClosed) && s.replace(client) {
			continue
		}
		return err
	}
}

func hasCode(err error, code esdb.ErrorCode) bool {
	var esErr *esdb.Error
	return errors.As(err, &esErr) && esErr.Code() == code
}

// Append writes events to stream if expected holds.
func (s *Store) Append(ctx context.Context, stream string, expected domain.ExpectedRevision, events ...domain.ProposedEvent) (domain.AppendResult, error) {
	data, err := toEventData(stream, events)
	if err != nil {
		return domain.AppendResult{}, err
	}
	opts := esdb.AppendToStreamOptions{ExpectedRevision: toExpectedRevision(expected)}
	var res *esdb.WriteResult
	err = s.call(ctx, func(ctx context.Context, c *esdb.Client) error {
		var err error
		res, err = c.AppendToStream(ctx, stream, opts, data...)
		return err
	})
	switch {
	case err == nil:
		return domain.AppendResult{NextExpectedRevision: res.NextExpectedVersion, Position: res.CommitPosition}, nil
	case hasCode(err, esdb.ErrorCodeWrongExpectedVersion):
		return domain.AppendResult{}, &domain.WrongExpectedRevisionError{
			Stream: stream, Expected: expected, Actual: s.actualRevision(ctx, stream, err),
		}
	case hasCode(err, esdb.ErrorCodeStreamDeleted):
		return domain.AppendResult{}, fmt.Errorf("kurrentdb: append to %q: %w", stream, domain.ErrStreamDeleted)
	case appendSizeExceeded(err):
		// A server configured below the default MaxAppendSize.
		return domain.AppendResult{}, domain.Errorf(domain.ErrAppendTooLarge,
			"the events for %s take %d bytes; the event store refused them as larger than its MaxAppendSize", streamKindOf(stream), domain.AppendSize(events))
	default:
		return domain.AppendResult{}, fmt.Errorf("kurrentdb: append to %q: %w", stream, err)
	}
}

// appendSizeExceeded recognizes the server's maximum-append-size-exceeded
// exception, which the client does not classify: an InvalidArgument status
// whose message names the limit.
func appendSizeExceeded(err error) bool {
	var esErr *esdb.Error
	if !errors.As(err, &esErr) {
		return false
	}
	st, ok := status.FromError(esErr.Err())
	return ok && st.Code() == codes.InvalidArgument && strings.Contains(st.Message(), "Maximum Append Size")
}

// streamKindOf is the stream name up to its first dash: errors that reach a
// client name no internal stream id.
func streamKindOf(stream string) string {
	if i := strings.IndexByte(stream, '-'); i > 0 {
		return stream[:i]
	}
	return stream
}

// toEventData refuses what would silently lose idempotency: an id that is not
// a UUID would be replaced by a random one by the client.
func toEventData(stream string, events []domain.ProposedEvent) ([]esdb.EventData, error) {
	if stream == "" {
		return nil, errors.New("kurrentdb: append: empty stream name")
	}
	if len(events) == 0 {
		return nil, fmt.Errorf("kurrentdb: append to %q: no events", stream)
	}
	if err := domain.CheckAppendSize(stream, events); err != nil {
		return nil, err
	}
	out := make([]esdb.EventData, len(events))
	seen := make(map[uuid.UUID]bool, len(events))
	for i, ev := range events {
		if ev.Type == "" {
			return nil, fmt.Errorf("kurrentdb: append to %q: event %d has no type", stream, i)
		}
		id, err := uuid.Parse(ev.ID)
		if err != nil || id == uuid.Nil {
			return nil, fmt.Errorf("kurrentdb: append to %q: event %d id %q is not a UUID", stream, i, ev.ID)
		}
		if seen[id] {
			return nil, fmt.Errorf("kurrentdb: append to %q: event id %s appears twice", stream, id)
		}
		seen[id] = true
		out[i] = esdb.EventData{
			EventID:     id,
			EventType:   ev.Type,
			ContentType: esdb.ContentTypeJson,
			Data:        ev.Data,
			Metadata:    ev.Metadata,
		}
	}
	return out, nil
}

func toExpectedRevision(e domain.ExpectedRevision) esdb.ExpectedRevision {
	if rev, ok := e.Exact(); ok {
		return esdb.Revision(rev)
	}
	switch {
	case e.IsNoStream():
		return esdb.NoStream{}
	case e.IsStreamExists():
		return esdb.StreamExists{}
	default:
		return esdb.Any{}
	}
}

// actualRevision is the stream's revision when the append was refused (-1: no
// stream). The client only puts it in the message text ("expecting 'X' but got
// 'Y'"); when that format is not recognised, the stream is read instead,
// which may already have moved on.
func (s *Store) actualRevision(ctx context.Context, stream string, wrong error) int64 {
	msg := wrong.Error()
	if i := strings.LastIndex(msg, "but got '"); i >= 0 {
		got := msg[i+len("but got '"):]
		if j := strings.IndexByte(got, '\''); j >= 0 {
			got = got[:j]
			if got == "no_stream" {
				return -1
			}
			if n, err := strconv.ParseInt(got, 10, 64); err == nil {
				return n
			}
		}
	}
	last, err := s.ReadStream(ctx, stream, domain.Backwards, domain.StreamEnd, 1)
	if err != nil || len(last) == 0 {
		return -1
	}
	return int64(last[0].Revision)
}

// ReadStream reads up to count events of stream from a revision, inclusive.
func (s *Store) ReadStream(ctx context.Context, stream string, direction domain.ReadDirection, from uint64, count uint64) ([]domain.RecordedEvent, error) {
	opts := esdb.ReadStreamOptions{Direction: esdb.Forwards, From: esdb.Revision(from)}
	if direction == domain.Backwards {
		opts.Direction = esdb.Backwards
	}
	if from == domain.StreamEnd {
		opts.From = esdb.End{}
	}
	var out []domain.RecordedEvent
	err := s.call(ctx, func(ctx context.Context, c *esdb.Client) error {
		rs, err := c.ReadStream(ctx, stream, opts, count)
		if err != nil {
			return err
		}
		return drain(rs, func(rec *esdb.RecordedEvent) { out = append(out, toRecorded(rec)) })
	})
	switch {
	case err == nil:
		return out, nil
	case hasCode(err, esdb.ErrorCodeResourceNotFound):
		return nil, &domain.StreamNotFoundError{Stream: stream}
	case hasCode(err, esdb.ErrorCodeStreamDeleted):
		return nil, fmt.Errorf("kurrentdb: read %q: %w", stream, domain.ErrStreamDeleted)
	default:
		return nil, fmt.Errorf("kurrentdb: read %q: %w", stream, err)
	}
}

// ReadAll reads up to count events after the position after. v4.2.0 cannot send
// a server-side filter on a finite $all read, so system events are skipped here
// and reading goes on page by page until count visible events are found.
func (s *Store) ReadAll(ctx context.Context, after uint64, count uint64) ([]domain.RecordedEvent, error) {
	var out []domain.RecordedEvent
	if count == 0 {
		return out, nil
	}
	var from esdb.AllPosition = esdb.Start{}
	if after > 0 {
		// A forward $all read includes the event at its start position.
		from = esdb.Position{Commit: after, Prepare: after}
	}
	seen := after
	for uint64(len(out)) < count {
		// One more than needed: the page starts with the event at from, already seen.
		want := min(count-uint64(len(out)), readPage-1) + 1
		page, err := s.readAllPage(ctx, esdb.Forwards, from, want)
		if err != nil {
			return nil, fmt.Errorf("kurrentdb: read $all after %d: %w", after, err)
		}
		for _, ev := range page {
			if ev.Position.Commit <= seen || isSystem(ev) {
				continue
			}
			out = append(out, toRecorded(ev))
			if uint64(len(out)) == count {
				break
			}
		}
		if uint64(len(page)) < want {
			break
		}
		last := page[len(page)-1]
		from, seen = last.Position, last.Position.Commit
	}
	return out, nil
}

func (s *Store) readAllPage(ctx context.Context, dir esdb.Direction, from esdb.AllPosition, n uint64) ([]*esdb.RecordedEvent, error) {
	var page []*esdb.RecordedEvent
	err := s.call(ctx, func(ctx context.Context, c *esdb.Client) error {
		rs, err := c.ReadAll(ctx, esdb.ReadAllOptions{Direction: dir, From: from}, n)
		if err != nil {
			return err
		}
		return drain(rs, func(rec *esdb.RecordedEvent) { page = append(page, rec) })
	})
	return page, err
}

// drain hands every event of a finite read to each, until the read ends.
func drain(rs *esdb.ReadStream, each func(*esdb.RecordedEvent)) error {
	defer rs.Close()
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if rec := ev.OriginalEvent(); rec != nil {
			each(rec)
		}
	}
}

// HeadPosition is the position of the last event ReadAll would show: system
// events written by the server itself (stats, projections) do not count.
func (s *Store) HeadPosition(ctx context.Context) (uint64, error) {
	var from esdb.AllPosition = esdb.End{}
	for {
		page, err := s.readAllPage(ctx, esdb.Backwards, from, readPage)
		if err != nil {
			return 0, fmt.Errorf("kurrentdb: head position: %w", err)
		}
		for _, ev := range page {
			if !isSystem(ev) {
				return ev.Position.Commit, nil
			}
		}
		if len(page) < readPage {
			return 0, nil
		}
		// A backward $all read excludes the event at its start position.
		from = page[len(page)-1].Position
	}
}

// Ping reads one event of $all: cheap, and it needs the rights ReadAll and
// SubscribeAll need, so a passing Ping means the store can serve them.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if _, err := s.readAllPage(ctx, esdb.Backwards, esdb.End{}, 1); err != nil {
		return fmt.Errorf("kurrentdb: ping: %w", err)
	}
	return nil
}

// SubscribeAll delivers every event after the position after, then follows live
// appends. The client reports a drop and stops; this loop resubscribes after
// the last delivered event, with backoff.
func (s *Store) SubscribeAll(ctx context.Context, after uint64, handle func(context.Context, domain.RecordedEvent) error) error {
	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.closing, cancel)()

	stopped := func() error {
		if ctx.Err() != nil {
			return nil // the caller ended it
		}
		return ErrClosed
	}
	last := after
	backoff := minBackoff
	for drops := 1; ; drops++ {
		progressed, handlerErr, err := s.followAll(subCtx, &last, handle)
		if handlerErr != nil {
			return handlerErr
		}
		if subCtx.Err() != nil {
			return stopped()
		}
		if progressed {
			backoff = minBackoff
		}
		s.logger.Warn("subscription dropped; resubscribing",
			"after_position", last, "backoff_ms", backoff.Milliseconds(), "drops", drops, "error", err)
		select {
		case <-time.After(backoff):
		case <-subCtx.Done():
			return stopped()
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

// followAll runs one subscription until it drops or the handler fails. It
// reports whether anything arrived, so that a subscription that worked for a
// while resubscribes quickly after a drop.
func (s *Store) followAll(ctx context.Context, last *uint64, handle func(context.Context, domain.RecordedEvent) error) (progressed bool, handlerErr, dropErr error) {
	var from esdb.AllPosition = esdb.Start{}
	if *last > 0 {
		// Subscriptions start after the position they are given.
		from = esdb.Position{Commit: *last, Prepare: *last}
	}
	opts := esdb.SubscribeToAllOptions{From: from, Filter: esdb.ExcludeSystemEventsFilter()}
	var sub *esdb.Subscription
	err := s.call(ctx, func(ctx context.Context, c *esdb.Client) error {
		var err error
		sub, err = c.SubscribeToAll(ctx, opts)
		return err
	})
	if err != nil {
		return false, nil, err
	}
	defer sub.Close()
	for {
		msg := sub.Recv()
		switch {
		case msg.SubscriptionDropped != nil:
			return progressed, nil, msg.SubscriptionDropped.Error
		case msg.CaughtUp != nil:
			progressed = true
			s.logger.Debug("subscription caught up", "after_position", *last)
		case msg.EventAppeared != nil:
			progressed = true
			rec := msg.EventAppeared.OriginalEvent()
			// The filter already hides system events; the position check
			// guards the exactly-once promise across resubscriptions.
			if rec == nil || isSystem(rec) || (*last > 0 && rec.Position.Commit <= *last) {
				continue
			}
			if err := handle(ctx, toRecorded(rec)); err != nil {
				return progressed, err, nil
			}
			*last = rec.Position.Commit
		}
	}
}

// Close stops subscriptions and closes the client.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	client := s.client
	s.mu.Unlock()
	s.cancelClose()

	finished := make(chan struct{})
	go func() {
		s.inflight.Wait()
		close(finished)
	}()
	select {
	case <-finished:
		return client.Close()
	case <-time.After(closeGrace):
		s.logger.Warn("calls still inside the client at close; leaving it open", "waited_ms", closeGrace.Milliseconds())
		return nil
	}
}

func isSystem(e *esdb.RecordedEvent) bool {
	return strings.HasPrefix(e.EventType, "$")
}

func toRecorded(e *esdb.RecordedEvent) domain.RecordedEvent {
	return domain.RecordedEvent{
		StreamID: e.StreamID,
		Revision: e.EventNumber,
		Position: e.Position.Commit,
		ID:       e.EventID.String(),
		Type:     e.EventType,
		Data:     e.Data,
		Metadata: e.UserMetadata,
		Created:  e.CreatedDate,
	}
}

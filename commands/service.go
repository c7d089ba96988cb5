// Package commands holds the use cases that change the system: one file per
// use case. Each loads the streams it needs, lets the domain decide, and
// appends with the expected revision, retrying on a concurrent change. It
// imports domain/ and the ports it declares here, nothing else.
package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/socialops/socialops/domain"
)

// EventLog is the part of the event store the commands use.
type EventLog interface {
	Append(ctx context.Context, stream string, expected domain.ExpectedRevision, events ...domain.ProposedEvent) (domain.AppendResult, error)
	ReadStream(ctx context.Context, stream string, direction domain.ReadDirection, from uint64, count uint64) ([]domain.RecordedEvent, error)
}

// MultiAppender is an EventLog that can also append to several streams in
// one transaction: every part is stored or none is (the error is then that of
// the part that failed). The Postgres store has it; KurrentDB cannot, and the
// commands that use it keep a path of single appends for a log without it.
type MultiAppender interface {
	AppendMulti(ctx context.Context, appends ...domain.StreamAppend) ([]domain.AppendResult, error)
}

// SnapshotStore keeps folded aggregate states, so a long stream is read from
// its latest snapshot on. It is a cache: a missing or unreadable snapshot
// means reading the whole stream.
type SnapshotStore interface {
	LoadSnapshot(ctx context.Context, stream string, schema int) (version int64, state []byte, found bool, err error)
	SaveSnapshot(ctx context.Context, stream string, schema int, version int64, state []byte) error
}

// snapshotEvery is how many events read past the snapshot make a new one.
const snapshotEvery = 200

// Service runs the commands.
type Service struct {
	bots      BotDirectory
	log       EventLog
	snapshots SnapshotStore
	registry  *domain.Registry
	now       func() time.Time
	random    io.Reader
	logger    *slog.Logger
	inflight  *inflight
	threads   *threadCache

	// InboundFeeMicroUSD is charged per accepted inbound message.
	InboundFeeMicroUSD int64
	// MaxAttempts bounds the optimistic-concurrency retries of one command.
	MaxAttempts int
}

// Options tune a Service; zero values take defaults.
type Options struct {
	Now       func() time.Time
	Random    io.Reader
	Logger    *slog.Logger
	Snapshots SnapshotStore // optional
}

// NewService returns a Service appending to the log.
func NewService(log EventLog, registry *domain.Registry, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Random == nil {
		opts.Random = domain.CryptoRandom
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Service{
		log:                log,
		snapshots:          opts.Snapshots,
		registry:           registry,
		now:                opts.Now,
		random:             opts.Random,
		logger:             opts.Logger,
		inflight:           newInflight(),
		threads:            newThreadCache(),
		InboundFeeMicroUSD: domain.InboundMessageFeeMicroUSD,
		MaxAttempts:        64,
	}
}

// Context carries who asks and why, into every event's metadata.
type Context struct {
	Actor         domain.Actor
	CorrelationID string
	CausationID   string
	OwnerID       string
	InstanceAlias string
}

func (s *Service) encode(cc Context, eventID string, payload domain.Event) (domain.ProposedEvent, error) {
	return s.registry.Encode(payload, domain.Metadata{
		EventID:       eventID,
		CorrelationID: cc.CorrelationID,
		CausationID:   cc.CausationID,
		OwnerID:       cc.OwnerID,
		InstanceAlias: cc.InstanceAlias,
		Actor:         cc.Actor,
		OccurredAt:    s.now().UTC(),
	})
}

const loadPage = 1000

// load folds a whole stream into state. A missing stream leaves state as is.
func load[S any](ctx context.Context, s *Service, stream string, state S, evolve func(S, domain.Envelope) S) (S, error) {
	state, _, err := loadFrom(ctx, s, stream, domain.StreamStart, state, evolve)
	return state, err
}

// loadFrom folds the events of a stream from a revision on, and says how many it read.
func loadFrom[S any](ctx context.Context, s *Service, stream string, from uint64, state S, evolve func(S, domain.Envelope) S) (S, int, error) {
	read := 0
	for {
		evs, err := s.log.ReadStream(ctx, stream, domain.Forwards, from, loadPage)
		if errors.Is(err, domain.ErrStreamNotFound) {
			return state, read, nil
		}
		if err != nil {
			return state, read, fmt.Errorf("load %s: %w", stream, err)
		}
		for _, raw := range evs {
			env, err := s.registry.Decode(raw)
			if err != nil {
				return state, read, fmt.Errorf("load %s: %w", stream, err)
			}
			state = evolve(state, env)
		}
		read += len(evs)
		if len(evs) < loadPage {
			return state, read, nil
		}
		from = evs[len(evs)-1].Revision + 1
	}
}

// loadThread folds a thread from its snapshot (when there is one) and the
// events after it, and stores a new snapshot once enough events were read.
func (s *Service) loadThread(ctx context.Context, threadID string) (domain.Thread, error) {
	stream := domain.ThreadStream(threadID)
	state := domain.NewThread(threadID)
	if s.snapshots != nil {
		version, raw, found, err := s.snapshots.LoadSnapshot(ctx, stream, domain.ThreadSnapshotVersion)
		switch {
		case err != nil:
			s.logger.Warn("thread snapshot unreadable; reading the whole stream", "thread_id", threadID, "error", err)
		case found:
			var snap domain.Thread
			if err := json.Unmarshal(raw, &snap); err != nil || snap.Version != version || snap.ID != threadID {
				s.logger.Warn("thread snapshot invalid; reading the whole stream", "thread_id", threadID)
			} else {
				state = snap.WithMaps()
			}
		}
	}
	from := domain.StreamStart
	if state.Version >= 0 {
		from = uint64(state.Version + 1)
	}
	state, read, err := loadFrom(ctx, s, stream, from, state, domain.EvolveThread)
	if err != nil {
		return state, err
	}
	if s.snapshots != nil && read >= snapshotEvery {
		if raw, err := json.Marshal(state); err == nil {
			if err := s.snapshots.SaveSnapshot(ctx, stream, domain.ThreadSnapshotVersion, state.Version, raw); err != nil {
				s.logger.Warn("thread snapshot not saved", "thread_id", threadID, "error", err)
			}
		}
	}
	return state, nil
}

// decideAndAppend is the loop every stream-changing command runs: load the
// state and its version, decide, append the events expecting that version;
// after a concurrent change, load and decide again, up to MaxAttempts, then
// give up with ErrConcurrencyExhausted. It returns the state decided on, the
// events appended (none when decide chose none) and their position. eventID
// names each event (random when it returns ""); stamp fills the metadata
// context from the state.
func decideAndAppend[S any](ctx context.Context, s *Service, stream string, cc Context,
	load func() (S, int64, error),
	decide func(S) ([]domain.Event, error),
	eventID func(domain.Event) string,
	stamp func(S, *Context),
) (S, []domain.Event, uint64, error) {
	var zero S
	for attempt := 0; attempt < s.MaxAttempts; attempt++ {
		state, version, err := load()
		if err != nil {
			return zero, nil, 0, err
		}
		events, err := decide(state)
		if err != nil || len(events) == 0 {
			return state, nil, 0, err
		}
		if stamp != nil {
			stamp(state, &cc)
		}
		proposed := make([]domain.ProposedEvent, 0, len(events))
		for _, e := range events {
			id := ""
			if eventID != nil {
				id = eventID(e)
			}
			if id == "" {
				id = domain.RandomUUID(s.random)
			}
			p, err := s.encode(cc, id, e)
			if err != nil {
				return zero, nil, 0, err
			}
			proposed = append(proposed, p)
		}
		res, err := s.log.Append(ctx, stream, domain.ExpectedFromVersion(version), proposed...)
		if errors.Is(err, domain.ErrWrongExpectedRevision) {
			if err := s.backoff(ctx, attempt); err != nil {
				return zero, nil, 0, err
			}
			continue
		}
		if err != nil {
			return zero, nil, 0, err
		}
		// A thread the ingestion cache may hold changed: forget it.
		s.threads.dropStream(stream)
		return state, events, res.Position, nil
	}
	s.logger.Warn("command gave up after concurrent changes", "stream", stream, "attempts", s.MaxAttempts)
	return zero, nil, 0, domain.ErrConcurrencyExhausted
}

// backoff waits a little before retrying after a concurrent change, growing
// with the attempt so colliding writers spread out.
func (s *Service) backoff(ctx context.Context, attempt int) error {
	var b [1]byte
	_, _ = io.ReadFull(s.random, b[:])
	// Linear growth capped at 20 ms, plus up to 8 ms of jitter.
	return sleepCtx(ctx, time.Duration(min(attempt+1, 20))*time.Millisecond+time.Duration(b[0]%8)*time.Millisecond)
}

// sleepCtx waits d, or less when ctx ends (then it returns ctx's error).
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

package eventstore

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/socialops/socialops/domain"
)

// Metadata keys of the Watermill messages the subscriber produces.
const (
	MetaFirstPosition = "first_position"
	MetaLastPosition  = "last_position"
	MetaCount         = "event_count"
)

// WatermillSubscriber exposes the store's catch-up subscription as a Watermill
// subscriber. The topic names a consumer (a projector, the process manager);
// each Subscribe starts after that consumer's stored checkpoint.
//
// A message carries a batch of consecutive events so the consumer can apply
// them in one transaction. The subscriber and its consumers share a process,
// so the batch rides in the message's context (DecodeBatch reads it) rather
// than as JSON in its payload: each of a dozen followers encoding and
// decoding every event in base64 JSON was the largest cost of following the
// log (issue 21). The payload stays empty. The
// next batch is sent only after the current one is acked; a nacked batch is
// sent again, with backoff, until it is acked: an event is never skipped.
type WatermillSubscriber struct {
	Store Store
	// Checkpoint returns the position a consumer has already handled.
	Checkpoint func(ctx context.Context, topic string) (uint64, error)
	// BatchSize bounds the events of one message (default 256).
	BatchSize int
	Logger    *slog.Logger
	// OnRedeliver is told each time a batch is sent again after a nack.
	OnRedeliver func(topic string, first, last uint64, attempt int)
	// Interval, when set, is the least time between a topic's batches while
	// it follows the log live (0: none): events arriving meanwhile join the
	// next batch, so a consumer with a cost per batch pays it less often. A
	// batch that fills up goes at once, so catching up never waits.
	Interval func(topic string) time.Duration

	mu      sync.Mutex
	closing chan struct{}
	wg      sync.WaitGroup
}

func (s *WatermillSubscriber) closingCh() chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing == nil {
		s.closing = make(chan struct{})
	}
	return s.closing
}

// Subscribe implements message.Subscriber.
func (s *WatermillSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	if s.BatchSize <= 0 {
		s.BatchSize = 256
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	closing := s.closingCh()
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-closing:
		case <-ctx.Done():
		}
		cancel()
	}()
	out := make(chan *message.Message)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(out)
		backoff := 100 * time.Millisecond
		for ctx.Err() == nil {
			err := s.follow(ctx, topic, out)
			if ctx.Err() != nil {
				return
			}
			s.Logger.Error("event subscription stopped; resuming from the checkpoint", "topic", topic, "error", err, "backoff_ms", backoff.Milliseconds())
			if !sleepCtx(ctx, backoff) {
				return
			}
			backoff = min(backoff*2, 10*time.Second)
		}
	}()
	return out, nil
}

// follow delivers batches from the consumer's checkpoint until an error.
func (s *WatermillSubscriber) follow(ctx context.Context, topic string, out chan<- *message.Message) error {
	from, err := s.Checkpoint(ctx, topic)
	if err != nil {
		return fmt.Errorf("read checkpoint: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := make(chan domain.RecordedEvent, 2*s.BatchSize)
	subErr := make(chan error, 1)
	go func() {
		subErr <- s.Store.SubscribeAll(ctx, from, func(ctx context.Context, e domain.RecordedEvent) error {
			select {
			case events <- e:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	var interval time.Duration
	if s.Interval != nil {
		interval = s.Interval(topic)
	}
	var last time.Time // when the previous batch was sent
	for {
		var first domain.RecordedEvent
		select {
		case first = <-events:
		case err := <-subErr:
			if err == nil {
				err = ctx.Err()
			}
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
		// Live and paced: gather until the interval is over or the batch
		// is full; otherwise take only what is waiting.
		var until <-chan time.Time
		var timer *time.Timer
		if wait := interval - time.Since(last); interval > 0 && wait > 0 {
			timer = time.NewTimer(wait)
			until = timer.C
		}
		batch, err := s.fill(ctx, []domain.RecordedEvent{first}, events, until)
		if timer != nil {
			timer.Stop()
		}
		if err != nil {
			return err
		}
		last = time.Now()
		if err := s.deliver(ctx, topic, batch, out); err != nil {
			return err
		}
	}
}

// fill adds events to batch until it holds BatchSize: those waiting, then,
// when until is not nil, those that come before it fires.
func (s *WatermillSubscriber) fill(ctx context.Context, batch []domain.RecordedEvent, events <-chan domain.RecordedEvent, until <-chan time.Time) ([]domain.RecordedEvent, error) {
	for len(batch) < s.BatchSize {
		select {
		case e := <-events:
			batch = append(batch, e)
			continue
		default:
		}
		if until == nil {
			break
		}
		select {
		case e := <-events:
			batch = append(batch, e)
		case <-until:
			return batch, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return batch, nil
}

func (s *WatermillSubscriber) deliver(ctx context.Context, topic string, batch []domain.RecordedEvent, out chan<- *message.Message) error {
	firstPos, lastPos := batch[0].Position, batch[len(batch)-1].Position
	uuid := topic + ":" + strconv.FormatUint(firstPos, 10) + "-" + strconv.FormatUint(lastPos, 10)
	carrying := context.WithValue(ctx, batchKey{}, batch)
	backoff := 100 * time.Millisecond
	for attempt := 0; ; attempt++ {
		msg := message.NewMessage(uuid, nil)
		msg.Metadata.Set(MetaFirstPosition, strconv.FormatUint(firstPos, 10))
		msg.Metadata.Set(MetaLastPosition, strconv.FormatUint(lastPos, 10))
		msg.Metadata.Set(MetaCount, strconv.Itoa(len(batch)))
		msg.SetContext(carrying)
		select {
		case out <- msg:
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case <-msg.Acked():
			return nil
		case <-msg.Nacked():
		case <-ctx.Done():
			return ctx.Err()
		}
		if s.OnRedeliver != nil {
			s.OnRedeliver(topic, firstPos, lastPos, attempt+1)
		}
		if !sleepCtx(ctx, backoff) {
			return ctx.Err()
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

// Close stops every subscription of this subscriber.
func (s *WatermillSubscriber) Close() error {
	ch := s.closingCh()
	s.mu.Lock()
	select {
	case <-ch:
	default:
		close(ch)
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// NewRouter returns a Watermill router that logs through slog (its chatty
// info lines as debug) with the middleware every consumer of the log uses:
// correlation id, retry with backoff, and recoverer (a panic becomes an error).
func NewRouter(logger *slog.Logger) (*message.Router, error) {
	wlog := watermill.NewSlogLoggerWithLevelMapping(logger, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 15 * time.Second}, wlog)
	if err != nil {
		return nil, err
	}
	router.AddMiddleware(
		middleware.CorrelationID,
		middleware.Retry{MaxRetries: 4, InitialInterval: 50 * time.Millisecond, MaxInterval: 2 * time.Second, Multiplier: 2, Logger: wlog}.Middleware,
		middleware.Recoverer,
	)
	return router, nil
}

// batchKey is the context key of a message's batch.
type batchKey struct{}

// DecodeBatch reads the events of a message made by WatermillSubscriber:
// the batch its context carries (shared by nobody else, never to be
// modified), or else a JSON array of domain.RecordedEvent in its payload.
func DecodeBatch(msg *message.Message) ([]domain.RecordedEvent, error) {
	if batch, ok := msg.Context().Value(batchKey{}).([]domain.RecordedEvent); ok {
		return batch, nil
	}
	var batch []domain.RecordedEvent
	if err := json.Unmarshal(msg.Payload, &batch); err != nil {
		return nil, fmt.Errorf("decode event batch %s: %w", msg.UUID, err)
	}
	return batch, nil
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Follow hands handle each batch of the log after the position checkpoint
// reads, in order, on a router with the shared middleware (retry, recoverer,
// correlation), until ctx ends (then it returns nil). It is the loop every
// process manager runs; handle moves the follower's own checkpoint.
func Follow(ctx context.Context, store Store, logger *slog.Logger, name string,
	checkpoint func(context.Context) (uint64, error), handle func(context.Context, []domain.RecordedEvent) error) error {
	inner, cancel := context.WithCancel(ctx)
	defer cancel()
	router, err := NewRouter(logger)
	if err != nil {
		return err
	}
	sub := &WatermillSubscriber{
		Store:      store,
		Checkpoint: func(ctx context.Context, _ string) (uint64, error) { return checkpoint(ctx) },
		Logger:     logger,
	}
	router.AddConsumerHandler(name, name, sub, func(msg *message.Message) error {
		batch, err := DecodeBatch(msg)
		if err != nil {
			return err
		}
		return handle(msg.Context(), batch)
	})
	go func() {
		<-inner.Done()
		_ = router.Close()
	}()
	err = router.Run(inner)
	_ = sub.Close()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

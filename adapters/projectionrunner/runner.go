// Package projectionrunner runs the projectors of projections/ on a Watermill
// router: one handler per projector, each fed by the event store's catch-up
// subscription from its own checkpoint, with retry, recoverer and correlation
// middleware. An event that fails because of its own data (projections.
// IsDataError) is parked, loudly (an error log, a parked count in the status,
// `socialops projections parked`), and the projector goes on with the others;
// any other failure halts the projector visibly (status and error logs naming
// the failing event's position) and is retried, never skipped.
package projectionrunner

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/socialops/socialops/adapters/eventstore"
	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

// Status is what /readyz and `projections status` show of a projector.
type Status struct {
	Name          string `json:"name"`
	State         string `json:"state"` // starting, running, halted
	Position      uint64 `json:"position"`
	Error         string `json:"error,omitempty"`
	ErrorPosition uint64 `json:"error_position,omitempty"`
	// Parked counts the events parked and neither retried nor skipped yet.
	Parked int `json:"parked"`
}

// Runner runs projectors.
type Runner struct {
	pool       *pgxpool.Pool
	store      eventstore.Store
	decoder    *projections.SharedDecoder // one decode of each event for every projector
	logger     *slog.Logger
	projectors []projections.Projector
	hooks      projections.Hooks
	refresh    time.Duration

	mu     sync.Mutex
	status map[string]*Status
	router *message.Router
}

// Options tune a Runner.
type Options struct {
	Projectors []projections.Projector // default: projections.All()
	Hooks      projections.Hooks
	Logger     *slog.Logger
	// ParkedRefresh is how often the parked counts are read again, to see
	// retries and skips made by `socialops projections` (default 10 s).
	ParkedRefresh time.Duration
}

// New returns a runner; Run starts it.
func New(pool *pgxpool.Pool, store eventstore.Store, registry *domain.Registry, opts Options) *Runner {
	if opts.Projectors == nil {
		opts.Projectors = projections.All()
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ParkedRefresh <= 0 {
		opts.ParkedRefresh = 10 * time.Second
	}
	r := &Runner{
		pool: pool, store: store, decoder: projections.NewSharedDecoder(registry),
		logger:     opts.Logger.With("component", "projections"),
		projectors: opts.Projectors,
		hooks:      opts.Hooks,
		refresh:    opts.ParkedRefresh,
		status:     map[string]*Status{},
	}
	for _, p := range r.projectors {
		r.status[p.Name()] = &Status{Name: p.Name(), State: "starting"}
	}
	return r
}

// Run blocks until ctx ends.
func (r *Runner) Run(ctx context.Context) error {
	router, err := eventstore.NewRouter(r.logger)
	if err != nil {
		return err
	}
	sub := &eventstore.WatermillSubscriber{
		Store: r.store,
		Checkpoint: func(ctx context.Context, topic string) (uint64, error) {
			return projections.Checkpoint(ctx, r.pool, topic)
		},
		Logger: r.logger,
		Interval: func(topic string) time.Duration {
			for _, p := range r.projectors {
				if paced, ok := p.(projections.Paced); ok && p.Name() == topic {
					return paced.BatchInterval()
				}
			}
			return 0
		},
		OnRedeliver: func(topic string, first, last uint64, attempt int) {
			r.logger.Error("projector batch failed after retries; halted and retrying",
				"projector", topic, "first_position", first, "last_position", last, "attempt", attempt)
		},
	}
	for _, p := range r.projectors {
		router.AddConsumerHandler(p.Name(), p.Name(), sub, r.handler(p))
	}
	r.mu.Lock()
	r.router = router
	r.mu.Unlock()
	go func() {
		<-ctx.Done()
		_ = router.Close()
	}()
	go r.refreshParked(ctx)
	err = router.Run(ctx)
	_ = sub.Close()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// Running is closed when the router runs.
func (r *Runner) Running() <-chan struct{} {
	for {
		r.mu.Lock()
		router := r.router
		r.mu.Unlock()
		if router != nil {
			return router.Running()
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (r *Runner) handler(p projections.Projector) message.NoPublishHandlerFunc {
	return func(msg *message.Message) error {
		batch, err := eventstore.DecodeBatch(msg)
		if err != nil {
			return err
		}
		res, err := projections.ApplyBatch(msg.Context(), r.pool, r.decoder, p, batch, "", r.hooks)
		r.reportParked(res.Parked)
		if err == nil && res.BatchFailure != nil && len(res.Parked) == 0 {
			r.logger.Warn("projector batch failed as a whole and was applied event by event; if this repeats, the batch's own SQL (a merged statement, a flush) is at fault and every batch takes the slow path",
				"projector", p.Name(), "first_position", batch[0].Position, "last_position", batch[len(batch)-1].Position,
				"error", res.BatchFailure)
		}
		if err != nil {
			errPos := batch[0].Position
			var failed *projections.ApplyError
			if errors.As(err, &failed) {
				errPos = failed.Position
			}
			r.setHalted(p.Name(), err, errPos)
			r.logger.Error("projector failed", "projector", p.Name(), "position", errPos,
				"first_position", msg.Metadata.Get(eventstore.MetaFirstPosition), "error", err)
			return err
		}
		r.setRunning(p.Name(), res.Position)
		return nil
	}
}

// reportParked logs each parked event loudly and counts it.
func (r *Runner) reportParked(parked []projections.ParkedEvent) {
	for _, e := range parked {
		r.logger.Error("projector parked an event it cannot apply and goes on with the others; retry or skip it with `socialops projections retry|skip`",
			"projector", e.Projector, "position", e.Position, "event_id", e.EventID, "stream", e.Stream,
			"event_type", e.EventType, "error", e.Error)
		r.mu.Lock()
		if s, ok := r.status[e.Projector]; ok {
			s.Parked++
		}
		r.mu.Unlock()
	}
}

// refreshParked reads the parked counts now and every r.refresh, so that
// retries and skips made from the command line show.
func (r *Runner) refreshParked(ctx context.Context) {
	t := time.NewTicker(r.refresh)
	defer t.Stop()
	for {
		counts, err := projections.ParkedCounts(ctx, r.pool)
		if err == nil {
			r.mu.Lock()
			for name, s := range r.status {
				s.Parked = counts[name]
			}
			r.mu.Unlock()
		} else if ctx.Err() == nil {
			r.logger.Warn("read parked event counts", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *Runner) setHalted(name string, err error, pos uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.status[name]
	s.State, s.Error, s.ErrorPosition = "halted", err.Error(), pos
}

func (r *Runner) setRunning(name string, pos uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.status[name]
	s.State, s.Error, s.ErrorPosition, s.Position = "running", "", 0, pos
}

// Statuses returns every projector's status, by name.
func (r *Runner) Statuses() []Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Status, 0, len(r.status))
	for _, s := range r.status {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Healthy reports an error naming the first halted projector. Parked events
// do not make it unhealthy: the projector serves every other event, and the
// parked ones show in Statuses, the logs and `socialops projections parked`.
func (r *Runner) Healthy() error {
	for _, s := range r.Statuses() {
		if s.State == "halted" {
			return errors.New("projector " + s.Name + " halted at position " + strconv.FormatUint(s.ErrorPosition, 10) + ": " + s.Error)
		}
	}
	return nil
}

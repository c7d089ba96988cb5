// Package projectionrunner runs the projectors of projections/ on a Watermill
// router: one handler per projector, each fed by the event store's catch-up
// subscription from its own checkpoint, with retry, recoverer and correlation
// middleware. A batch that keeps failing halts its projector visibly (status
// and error logs naming the position); it is retried, never skipped.
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
}

// Runner runs projectors.
type Runner struct {
	pool       *pgxpool.Pool
	store      eventstore.Store
	registry   *domain.Registry
	logger     *slog.Logger
	projectors []projections.Projector
	hooks      projections.Hooks

	mu     sync.Mutex
	status map[string]*Status
	router *message.Router
}

// Options tune a Runner.
type Options struct {
	Projectors []projections.Projector // default: projections.All()
	Hooks      projections.Hooks
	Logger     *slog.Logger
}

// New returns a runner; Run starts it.
func New(pool *pgxpool.Pool, store eventstore.Store, registry *domain.Registry, opts Options) *Runner {
	if opts.Projectors == nil {
		opts.Projectors = projections.All()
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	r := &Runner{
		pool: pool, store: store, registry: registry,
		logger:     opts.Logger.With("component", "projections"),
		projectors: opts.Projectors,
		hooks:      opts.Hooks,
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
		OnRedeliver: func(topic string, first, last uint64, attempt int) {
			r.logger.Error("projector batch failed after retries; halted on it and retrying",
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
		pos, err := projections.ApplyBatch(msg.Context(), r.pool, r.registry, p, batch, "", r.hooks)
		if err != nil {
			errPos := batch[0].Position
			var poison *projections.PoisonError
			if errors.As(err, &poison) {
				errPos = poison.Position
			}
			r.setHalted(p.Name(), err, errPos)
			r.logger.Error("projector failed", "projector", p.Name(), "position", errPos,
				"first_position", msg.Metadata.Get(eventstore.MetaFirstPosition), "error", err)
			return err
		}
		r.setRunning(p.Name(), pos)
		return nil
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

// Healthy reports an error naming the first halted projector.
func (r *Runner) Healthy() error {
	for _, s := range r.Statuses() {
		if s.State == "halted" {
			return errors.New("projector " + s.Name + " halted at position " + strconv.FormatUint(s.ErrorPosition, 10) + ": " + s.Error)
		}
	}
	return nil
}

// Package deliveryworker runs the reply-delivery process manager
// (commands.DeliveryManager): a Watermill handler follows the event log from
// its own checkpoint and hands every ReplyQueued to a pool of workers, and a
// periodic sweep (seed 000's 定时 worker) re-drives actions left pending or
// processing past a timeout, such as those of a process that died.
package deliveryworker

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/socialops/socialops/adapters/eventstore"
	"github.com/socialops/socialops/commands"
	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

// CheckpointName is the process manager's row in projection_checkpoints.
const CheckpointName = "delivery-manager"

// Options tune the worker.
type Options struct {
	Concurrency int           // actions driven at once (default 8)
	SweepEvery  time.Duration // how often the sweep looks (default 15 s)
	StuckAfter  time.Duration // an unsettled action this old is re-driven (default 1 min)
	Logger      *slog.Logger
	// OnOutcome, when set, is told each delivery outcome (Outcome…) this
	// worker's follower reads from the log; it must not block (metrics).
	OnOutcome func(outcome string)
}

// Worker runs the delivery process manager.
type Worker struct {
	pool     *pgxpool.Pool
	store    eventstore.Store
	registry *domain.Registry
	manager  *commands.DeliveryManager
	opts     Options
	logger   *slog.Logger

	mu       sync.Mutex
	active   map[string]bool
	outcomes *outcomeCounter
}

// New returns a worker; Run starts it.
func New(pool *pgxpool.Pool, store eventstore.Store, registry *domain.Registry, manager *commands.DeliveryManager, opts Options) *Worker {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 8
	}
	if opts.SweepEvery <= 0 {
		opts.SweepEvery = 15 * time.Second
	}
	if opts.StuckAfter <= 0 {
		opts.StuckAfter = time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Worker{pool: pool, store: store, registry: registry, manager: manager, opts: opts,
		logger: opts.Logger.With("component", "delivery"), active: map[string]bool{},
		outcomes: &outcomeCounter{report: opts.OnOutcome, registry: registry}}
}

// Run blocks until ctx ends; in-flight drives stop at their next step.
func (w *Worker) Run(parent context.Context) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	// A thread's actions run one after another, in the order they were
	// queued (its replies reach the chat in order); other threads' run in
	// parallel on the remaining drivers (threadQueue).
	queue := newThreadQueue(64 * w.opts.Concurrency)
	stopWaiting := context.AfterFunc(ctx, queue.close)
	defer stopWaiting()
	var wg sync.WaitGroup
	for range w.opts.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				ref, ok := queue.pop()
				if !ok {
					return
				}
				w.drive(ctx, ref)
				queue.done(ref.ThreadID)
			}
		}()
	}
	defer func() {
		queue.close()
		wg.Wait()
	}()
	submit := func(ref projections.ActionRef) bool { return queue.push(ctx, ref) }

	sweepDone := make(chan struct{})
	go func() { w.sweep(ctx, submit); close(sweepDone) }()
	err := eventstore.Follow(ctx, w.store, w.logger, CheckpointName,
		func(ctx context.Context) (uint64, error) { return projections.Checkpoint(ctx, w.pool, CheckpointName) },
		func(hctx context.Context, batch []domain.RecordedEvent) error {
			w.outcomes.count(batch)
			for _, raw := range batch {
				if raw.Type != (domain.ReplyQueued{}).EventType() {
					continue
				}
				env, err := w.registry.Decode(raw)
				if err != nil {
					return err
				}
				r := env.Payload.(domain.ReplyQueued)
				if !submit(projections.ActionRef{ActionID: r.ActionID, ThreadID: r.ThreadID}) {
					return ctx.Err()
				}
			}
			// The checkpoint moves once the actions are handed over; an action
			// whose drive is cut short is picked up again by the sweep.
			_, err := w.pool.Exec(hctx, projections.AdvanceCheckpointSQL, CheckpointName, int64(batch[len(batch)-1].Position))
			return err
		})
	cancel()
	<-sweepDone // nothing may submit once jobs is closed
	if parent.Err() != nil {
		return nil
	}
	return err
}

// Sweep re-drives unsettled actions once; Run calls it periodically.
func (w *Worker) sweep(ctx context.Context, submit func(projections.ActionRef) bool) {
	t := time.NewTicker(w.opts.SweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		refs, err := projections.UnsettledActions(ctx, w.pool, time.Now().Add(-w.opts.StuckAfter), 500)
		if err != nil {
			if ctx.Err() == nil {
				w.logger.Warn("delivery sweep failed", "error", err)
			}
			continue
		}
		for _, ref := range refs {
			w.logger.Info("sweep re-drives an unsettled action", "action_id", ref.ActionID)
			if !submit(ref) {
				return
			}
		}
	}
}

// drive runs one action, at most once at a time in this process.
func (w *Worker) drive(ctx context.Context, ref projections.ActionRef) {
	w.mu.Lock()
	if w.active[ref.ActionID] {
		w.mu.Unlock()
		return
	}
	w.active[ref.ActionID] = true
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		delete(w.active, ref.ActionID)
		w.mu.Unlock()
	}()
	if err := w.manager.Drive(ctx, ref.ActionID, ref.ThreadID); err != nil && ctx.Err() == nil {
		if err == commands.ErrLeaseHeld {
			return
		}
		w.logger.Error("delivery step failed; the sweep will retry", "action_id", ref.ActionID, "error", err)
	}
}

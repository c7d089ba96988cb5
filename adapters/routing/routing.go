// Package routing runs the routing process manager
// (commands.RoutingManager): a Watermill handler follows the event log from
// its own checkpoint, keeps each roster's session counts in step with the
// threads (accepts, closes, reassignments), queues again the sessions of an
// operator going inactive or deleted, and assigns the queue (oldest first)
// of every instance whose routing is auto whenever something may have made
// room: a session became pending, an operator came online, was created or
// freed capacity. Run it as one active instance (leader role "routing");
// two at once stay correct (expected revisions), only wasteful.
package routing

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/socialops/socialops/adapters/eventstore"
	"github.com/socialops/socialops/adapters/postgres"
	"github.com/socialops/socialops/commands"
	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

// CheckpointName is the process manager's row in projection_checkpoints.
const CheckpointName = "routing-manager"

// Options tune the router.
type Options struct {
	Logger *slog.Logger
	// QueueWait bounds the wait for the sessions projector before reading
	// the queue (default 5 s).
	QueueWait time.Duration
	// SweepEvery re-drains every auto instance's queue (default 30 s), so a
	// drain cut short by an error is picked up again.
	SweepEvery time.Duration
	// OnAssigned, when set, is told each assignment (benchmarks, metrics).
	OnAssigned func(commands.Assignment)
	// BotTimeoutEvery is how often sessions a bot left unanswered past its
	// answer timeout are handed to people (default 5 s).
	BotTimeoutEvery time.Duration
}

// Router follows the log and routes sessions.
type Router struct {
	pool     *pgxpool.Pool
	store    eventstore.Store
	registry *domain.Registry
	manager  *commands.RoutingManager
	tenancy  *postgres.Tenancy
	opts     Options
	logger   *slog.Logger
	// mu serializes the follower's batches and the sweep: the manager is
	// used by one goroutine at a time.
	mu sync.Mutex
}

// New returns a router; Run starts it.
func New(pool *pgxpool.Pool, store eventstore.Store, registry *domain.Registry, manager *commands.RoutingManager, tenancy *postgres.Tenancy, opts Options) *Router {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.QueueWait <= 0 {
		opts.QueueWait = 5 * time.Second
	}
	if opts.SweepEvery <= 0 {
		opts.SweepEvery = 30 * time.Second
	}
	if opts.BotTimeoutEvery <= 0 {
		opts.BotTimeoutEvery = 5 * time.Second
	}
	return &Router{pool: pool, store: store, registry: registry, manager: manager, tenancy: tenancy, opts: opts,
		logger: opts.Logger.With("component", "routing")}
}

// Run blocks until ctx ends.
func (r *Router) Run(parent context.Context) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	sweepDone := make(chan struct{})
	go func() { r.sweep(ctx); close(sweepDone) }()
	botsDone := make(chan struct{})
	go func() { r.botTimeouts(ctx); close(botsDone) }()
	err := eventstore.Follow(ctx, r.store, r.logger, CheckpointName,
		func(ctx context.Context) (uint64, error) { return projections.Checkpoint(ctx, r.pool, CheckpointName) },
		func(ctx context.Context, batch []domain.RecordedEvent) error {
			if err := r.handle(ctx, batch); err != nil {
				return err
			}
			_, err := r.pool.Exec(ctx, projections.AdvanceCheckpointSQL, CheckpointName, int64(batch[len(batch)-1].Position))
			return err
		})
	cancel()
	<-sweepDone
	<-botsDone
	if parent.Err() != nil {
		return nil
	}
	return err
}

var handled = map[string]bool{}

func init() {
	for _, e := range []domain.Event{domain.SessionQueued{}, domain.SessionReopened{}, domain.SessionAssigned{}, domain.SessionAccepted{},
		domain.SessionClosed{}, domain.OperatorCreated{}, domain.OperatorStatusChanged{}, domain.OperatorCapacityChanged{},
		domain.OperatorPresenceChanged{}, domain.OperatorSessionReleased{}} {
		handled[e.EventType()] = true
	}
}

// handle keeps the rosters in step with a batch of events, then drains the
// queue of every instance the batch may have made room in. Every step is
// idempotent, so a batch handled again after a crash changes nothing twice.
func (r *Router) handle(ctx context.Context, batch []domain.RecordedEvent) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	dirty := map[string]bool{}
	var order []string
	mark := func(inst string) {
		if !dirty[inst] {
			dirty[inst] = true
			order = append(order, inst)
		}
	}
	for _, raw := range batch {
		if !handled[raw.Type] {
			continue
		}
		env, err := r.registry.Decode(raw)
		if err != nil {
			r.logger.Warn("routing skips an event it cannot decode", "position", raw.Position, "error", err)
			continue
		}
		var err2 error
		rev := raw.Revision
		switch e := env.Payload.(type) {
		case domain.SessionQueued:
			if e.FromOperator != 0 {
				err2 = r.manager.Release(ctx, e.InstanceID, e.ThreadID, e.Reason, rev)
			}
			mark(e.InstanceID)
		case domain.SessionReopened:
			err2 = r.manager.Release(ctx, e.InstanceID, e.ThreadID, e.Reason, rev)
			mark(e.InstanceID)
		case domain.SessionAssigned:
			err2 = r.counted(ctx, e.InstanceID, e.ThreadID, e.OperatorID, rev)
			mark(e.InstanceID)
		case domain.SessionAccepted:
			err2 = r.counted(ctx, e.InstanceID, e.ThreadID, e.OperatorID, rev)
		case domain.SessionClosed:
			err2 = r.manager.Release(ctx, e.InstanceID, e.ThreadID, domain.SessionReasonClosed, rev)
		case domain.OperatorStatusChanged:
			switch e.To {
			case domain.OperatorInactive:
				err2 = r.manager.Requeue(ctx, e.InstanceID, e.OperatorID, domain.SessionReasonOperatorInactive)
			case domain.OperatorDeleted:
				err2 = r.manager.Requeue(ctx, e.InstanceID, e.OperatorID, domain.SessionReasonOperatorDeleted)
			}
			mark(e.InstanceID)
		case domain.OperatorCreated:
			mark(e.InstanceID)
		case domain.OperatorCapacityChanged:
			mark(e.InstanceID)
		case domain.OperatorPresenceChanged:
			mark(e.InstanceID)
		case domain.OperatorSessionReleased:
			mark(e.InstanceID)
		}
		if err2 != nil {
			return err2
		}
	}
	if len(order) == 0 {
		return nil
	}
	// The queue is read from the sessions read model: wait until it holds
	// this batch, so a session queued in it is seen.
	last := batch[len(batch)-1].Position
	if _, err := projections.WaitForPosition(ctx, r.pool, []string{projections.SessionsProjector{}.Name()}, last, r.opts.QueueWait); err != nil {
		return err
	}
	for _, inst := range order {
		if err := r.Drain(ctx, inst); err != nil {
			return err
		}
	}
	return nil
}

// counted counts an assigned or accepted session on its operator; an
// operator who went inactive or was deleted meanwhile (the assignment raced
// that change, possibly in another router) has it put back in the queue.
func (r *Router) counted(ctx context.Context, instanceID, threadID string, operatorID int64, rev uint64) error {
	if err := r.manager.Count(ctx, instanceID, threadID, operatorID, rev); err != nil {
		return err
	}
	active, err := r.manager.Holds(ctx, instanceID, operatorID)
	if err != nil || active {
		return err
	}
	return r.manager.RequeueSession(ctx, instanceID, threadID, operatorID, domain.SessionReasonOperatorInactive)
}

// Drain assigns an auto instance's queue, oldest first, until nobody can
// take more or the queue is empty.
func (r *Router) Drain(ctx context.Context, instanceID string) error {
	settings, err := r.tenancy.Settings(ctx, instanceID)
	if err != nil {
		if err == domain.ErrInstanceNotFound {
			return nil
		}
		return err
	}
	if settings.Routing != domain.RoutingAuto {
		return nil
	}
	seen := map[string]bool{}
	for {
		available, err := r.manager.Available(ctx, instanceID)
		if err != nil || !available {
			return err
		}
		pending, err := projections.PendingSessions(ctx, r.pool, instanceID, 500)
		if err != nil {
			return err
		}
		var fresh []string
		for _, t := range pending {
			if !seen[t] {
				seen[t] = true
				fresh = append(fresh, t)
			}
		}
		if len(fresh) == 0 {
			return nil
		}
		done, err := r.manager.Route(ctx, instanceID, fresh)
		for _, a := range done {
			if r.opts.OnAssigned != nil {
				r.opts.OnAssigned(a)
			}
		}
		if err != nil {
			return err
		}
		if len(done) == 0 {
			return nil
		}
	}
}

// every runs f every d until ctx ends.
func every(ctx context.Context, d time.Duration, f func(context.Context)) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f(ctx)
		}
	}
}

// sweep drains every auto instance's queue now and then.
func (r *Router) sweep(ctx context.Context) { every(ctx, r.opts.SweepEvery, r.drainPending) }

func (r *Router) drainPending(ctx context.Context) {
	rows, err := r.pool.Query(ctx, `SELECT DISTINCT instance_id FROM sessions WHERE status = 'pending'`)
	if err != nil {
		return
	}
	insts, err := collectStrings(rows)
	if err != nil {
		return
	}
	for _, inst := range insts {
		r.mu.Lock()
		err := r.Drain(ctx, inst)
		r.mu.Unlock()
		if err != nil && ctx.Err() == nil {
			r.logger.Warn("routing sweep failed", "instance_id", inst, "error", err)
		}
	}
}

func collectStrings(rows interface {
	Next() bool
	Scan(...any) error
	Err() error
	Close()
}) ([]string, error) {
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// overdueSessions are sessions a first-mode bot has (ai) whose customer's
// last message went unanswered (no outbound message since) for longer than
// the bot's answer timeout.
const overdueSessions = `SELECT DISTINCT s.instance_id, s.thread_id FROM sessions s
	JOIN bots b ON b.instance_id = s.instance_id AND b.mode = 'first' AND b.deleted_at IS NULL
	CROSS JOIN LATERAL (SELECT max(m.created_at) AS at FROM thread_messages m
		WHERE m.thread_id = s.thread_id AND m.direction = 'inbound') last_in
	WHERE s.status = 'ai' AND last_in.at < now() - make_interval(secs => b.answer_timeout_seconds)
	AND NOT EXISTS (SELECT 1 FROM thread_messages o WHERE o.thread_id = s.thread_id AND o.direction = 'outbound'
		AND o.created_at >= last_in.at)
	LIMIT 200`

// botTimeouts hands overdue bot sessions to people now and then; the
// SessionQueued it appends brings them to the queue like any hand-off.
func (r *Router) botTimeouts(ctx context.Context) {
	every(ctx, r.opts.BotTimeoutEvery, r.handOffOverdue)
}

func (r *Router) handOffOverdue(ctx context.Context) {
	rows, err := r.pool.Query(ctx, overdueSessions)
	if err != nil {
		if ctx.Err() == nil {
			r.logger.Warn("bot answer-timeout sweep failed", "error", err)
		}
		return
	}
	var pairs [][2]string
	for rows.Next() {
		var inst, thread string
		if err := rows.Scan(&inst, &thread); err == nil {
			pairs = append(pairs, [2]string{inst, thread})
		}
	}
	rows.Close()
	for _, p := range pairs {
		if err := r.manager.HandoffOverdue(ctx, p[0], p[1]); err != nil && ctx.Err() == nil {
			r.logger.Warn("bot answer timeout: hand-off failed", "thread_id", p[1], "error", err)
			continue
		}
		r.logger.Info("bot did not answer in time: session handed to people", "thread_id", p[1])
	}
}

package webhooks

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/socialops/socialops/adapters/eventstore"
	"github.com/socialops/socialops/catalogue"
	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

// CheckpointName is the dispatcher's row in projection_checkpoints.
const CheckpointName = "webhooks"

// Attempt outcomes reported to Options.OnAttempt (the outcome label of
// socialops_webhook_attempts_total).
const (
	OutcomeDelivered = "delivered"
	OutcomeRetried   = "retried"
	OutcomeFailed    = "failed"
)

// Options tune the dispatcher. Zero values take the defaults.
type Options struct {
	// Schedule is the delay before each retry (default DefaultSchedule).
	Schedule []time.Duration
	// Timeout bounds an attempt (default 10 s); MessageTimeout that of a
	// message.* event (default 30 s).
	Timeout        time.Duration
	MessageTimeout time.Duration
	// DisableAfter disables a subscription failing continuously this long (default 5 days).
	DisableAfter time.Duration
	// MaxRetryAfter bounds an honoured Retry-After (default 1 h).
	MaxRetryAfter time.Duration
	// AllowPrivate lets deliveries connect to loopback and private addresses.
	AllowPrivate bool
	// EndpointConcurrency is the most requests in flight to one endpoint (default 16).
	EndpointConcurrency int
	// PollInterval is how often due deliveries are looked for besides
	// nudges (default 1 s): deliveries queued by another process, retries.
	PollInterval time.Duration
	// LeaseSlack is added to an attempt's timeout to make its claim's lease
	// (default 10 s): past it, another process may attempt the delivery again.
	LeaseSlack time.Duration
	// Worker names this process in leases (default a random id).
	Worker string
	Logger *slog.Logger
	// OnAttempt, when set, is told each attempt's outcome (Outcome…); it must not block.
	OnAttempt func(outcome string)
	// OnDisabled, when set, is told each subscription this process disables.
	OnDisabled func(subscriptionID string)
	// Client overrides the HTTP client (tests); its transport should refuse
	// private addresses unless AllowPrivate.
	Client *http.Client
}

// Dispatcher follows the event log from its own checkpoint, writes the
// deliveries of each public event, and delivers them.
type Dispatcher struct {
	pool     *pgxpool.Pool
	events   eventstore.Store
	registry *domain.Registry
	subs     *Store
	opts     Options
	logger   *slog.Logger
	client   *http.Client
	nudge    chan struct{}

	mu      sync.Mutex
	workers map[string]*endpointWorker
	wg      sync.WaitGroup
}

type endpointWorker struct{ again bool }

// NewDispatcher returns a dispatcher; Run starts it.
func NewDispatcher(pool *pgxpool.Pool, events eventstore.Store, registry *domain.Registry, subs *Store, opts Options) *Dispatcher {
	if len(opts.Schedule) == 0 {
		opts.Schedule = DefaultSchedule
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.MessageTimeout <= 0 {
		opts.MessageTimeout = 30 * time.Second
	}
	if opts.DisableAfter <= 0 {
		opts.DisableAfter = 5 * 24 * time.Hour
	}
	if opts.MaxRetryAfter <= 0 {
		opts.MaxRetryAfter = time.Hour
	}
	if opts.EndpointConcurrency <= 0 {
		opts.EndpointConcurrency = 16
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	if opts.LeaseSlack <= 0 {
		opts.LeaseSlack = 10 * time.Second
	}
	if opts.Worker == "" {
		opts.Worker = domain.RandomID("whw_", domain.CryptoRandom)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	d := &Dispatcher{pool: pool, events: events, registry: registry, subs: subs, opts: opts,
		logger: opts.Logger.With("component", "webhooks"), nudge: make(chan struct{}, 1), workers: map[string]*endpointWorker{}}
	d.client = opts.Client
	if d.client == nil {
		d.client = NewClient(opts.AllowPrivate, opts.EndpointConcurrency)
	}
	return d
}

// NewClient is the HTTP client of deliveries: no redirects followed, no
// cookies, and (unless allowPrivate) a dialer that refuses to connect to a
// loopback, private or link-local address, whatever name resolved to it.
func NewClient(allowPrivate bool, perHost int) *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		dialer.Control = func(network, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			if ip := net.ParseIP(host); ip == nil || !publicIP(ip) {
				return fmt.Errorf("refusing to connect to %s: not a public address (SOCIALOPS_WEBHOOK_ALLOW_PRIVATE=1 allows it)", host)
			}
			return nil
		}
	}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   perHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
	}
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// Nudge makes the dispatcher look for due deliveries now.
func (d *Dispatcher) Nudge() {
	select {
	case d.nudge <- struct{}{}:
	default:
	}
}

// Run follows the log and delivers until ctx ends (then nil). Several
// processes may run it at once: deliveries are written idempotently and
// claimed with leases, so each attempt is made by one process.
func (d *Dispatcher) Run(parent context.Context) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	schedDone := make(chan struct{})
	go func() { d.schedule(ctx); close(schedDone) }()
	err := eventstore.Follow(ctx, d.events, d.logger, CheckpointName,
		func(ctx context.Context) (uint64, error) { return projections.Checkpoint(ctx, d.pool, CheckpointName) },
		d.fanOut)
	cancel()
	<-schedDone
	d.wg.Wait()
	if parent.Err() != nil {
		return nil
	}
	return err
}

type route struct {
	mapped catalogue.Mapped
	pos    uint64
}

// botRoute is a push to the bots of the event's instance.
type botRoute struct {
	push    botPush
	eventID string
	pos     uint64
}

type subRow struct {
	id     string
	events []string
	start  uint64
	botID  string // a bot's push subscription: bot events only
}

func (s subRow) wants(event string, pos uint64) bool {
	if pos <= s.start {
		return false
	}
	return len(s.events) == 0 || contains(s.events, event)
}

// fanOut writes the deliveries of a batch of events and moves the
// checkpoint, in one transaction: a crash leaves both or neither.
func (d *Dispatcher) fanOut(ctx context.Context, batch []domain.RecordedEvent) error {
	threads := map[string]string{} // thread id → instance id
	var routes []route
	var botRoutes []botRoute
	var needThreads, needAliases []string
	for _, raw := range batch {
		env, err := d.registry.Decode(raw)
		if err != nil {
			// An event this build cannot read is not one the catalogue publishes.
			d.logger.Warn("webhooks: skipping an undecodable event", "position", raw.Position, "type", raw.Type, "error", err)
			continue
		}
		if t, ok := env.Payload.(domain.ThreadOpened); ok {
			threads[t.ThreadID] = t.InstanceID
		}
		if bp, ok := mapBotPush(env); ok {
			evID := env.Metadata.EventID
			if evID == "" {
				evID = raw.ID
			}
			botRoutes = append(botRoutes, botRoute{push: bp, eventID: evID, pos: raw.Position})
			if _, ok := threads[bp.threadID]; !ok {
				needThreads = append(needThreads, bp.threadID)
			}
		}
		m, ok := catalogue.Map(env)
		if !ok {
			continue
		}
		routes = append(routes, route{mapped: m, pos: raw.Position})
		if m.InstanceID == "" && m.ThreadID != "" {
			if _, ok := threads[m.ThreadID]; !ok {
				needThreads = append(needThreads, m.ThreadID)
			}
		}
		if m.InstanceID == "" && m.ThreadID == "" && m.InstanceAlias != "" {
			needAliases = append(needAliases, m.InstanceAlias)
		}
	}
	tx, err := d.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	b := &pgx.Batch{}
	for t, inst := range threads {
		b.Queue(`INSERT INTO webhook_threads (thread_id, instance_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, t, inst)
	}
	aliases := map[string]string{}
	if len(needThreads) > 0 {
		rows, _ := tx.Query(ctx, `SELECT thread_id, instance_id FROM webhook_threads WHERE thread_id = ANY($1)`, needThreads)
		var t, inst string
		if _, err := pgx.ForEachRow(rows, []any{&t, &inst}, func() error { threads[t] = inst; return nil }); err != nil {
			return err
		}
	}
	if len(needAliases) > 0 {
		rows, _ := tx.Query(ctx, `SELECT alias, instance_id FROM instances WHERE alias = ANY($1)`, needAliases)
		var a, inst string
		if _, err := pgx.ForEachRow(rows, []any{&a, &inst}, func() error { aliases[a] = inst; return nil }); err != nil {
			return err
		}
	}
	instanceOf := func(m catalogue.Mapped) string {
		switch {
		case m.InstanceID != "":
			return m.InstanceID
		case m.ThreadID != "":
			return threads[m.ThreadID]
		default:
			return aliases[m.InstanceAlias]
		}
	}
	instSet := map[string]bool{}
	for _, r := range routes {
		if inst := instanceOf(r.mapped); inst != "" {
			instSet[inst] = true
		}
	}
	for _, r := range botRoutes {
		if inst := threads[r.push.threadID]; inst != "" {
			instSet[inst] = true
		}
	}
	subsOf := map[string][]subRow{}
	if len(instSet) > 0 {
		ids := make([]string, 0, len(instSet))
		for i := range instSet {
			ids = append(ids, i)
		}
		rows, _ := tx.Query(ctx, `SELECT subscription_id, instance_id, events, start_position, coalesce(bot_id, '')
			FROM webhook_subscriptions WHERE instance_id = ANY($1)`, ids)
		var s subRow
		var inst string
		var start int64
		if _, err := pgx.ForEachRow(rows, []any{&s.id, &inst, &s.events, &start, &s.botID}, func() error {
			s.start = uint64(start)
			subsOf[inst] = append(subsOf[inst], subRow{id: s.id, events: append([]string(nil), s.events...), start: s.start, botID: s.botID})
			return nil
		}); err != nil {
			return err
		}
	}
	var botSubs []string
	for _, subs := range subsOf {
		for _, s := range subs {
			if s.botID != "" {
				botSubs = append(botSubs, s.id)
			}
		}
	}
	botInfos, err := d.botsOf(ctx, tx, botSubs)
	if err != nil {
		return err
	}
	queued := 0
	for _, r := range routes {
		inst := instanceOf(r.mapped)
		var targets []subRow
		for _, s := range subsOf[inst] {
			if s.botID == "" && s.wants(r.mapped.Event.Event, r.pos) {
				targets = append(targets, s)
			}
		}
		if len(targets) == 0 {
			continue
		}
		body, err := catalogue.Encode(r.mapped.Event)
		if err != nil {
			return err
		}
		ev := r.mapped.Event
		b.Queue(`INSERT INTO webhook_messages (event_id, instance_id, event_type, position, payload) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (event_id) DO NOTHING`, ev.ID, inst, ev.Event, int64(r.pos), body)
		for _, s := range targets {
			b.Queue(`INSERT INTO webhook_deliveries (delivery_id, subscription_id, event_id, event_type) VALUES ($1, $2, $3, $4)
				ON CONFLICT (delivery_id) DO NOTHING`, DeliveryID(s.id, ev.ID), s.id, ev.ID, ev.Event)
			queued++
		}
	}
	for _, r := range botRoutes {
		inst := threads[r.push.threadID]
		for _, s := range subsOf[inst] {
			bot, ok := botInfos[s.id]
			if s.botID == "" || !ok || r.pos <= s.start || !contains(s.events, r.push.event) {
				continue
			}
			body, err := botBody(r.push, bot)
			if err != nil {
				return err
			}
			// One body per bot (its id, version and maybe token are in it).
			msgID := catalogue.EventID(r.eventID) + "." + s.id
			b.Queue(`INSERT INTO webhook_messages (event_id, instance_id, event_type, position, payload) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (event_id) DO NOTHING`, msgID, inst, BotEventPrefix+r.push.event, int64(r.pos), body)
			b.Queue(`INSERT INTO webhook_deliveries (delivery_id, subscription_id, event_id, event_type) VALUES ($1, $2, $3, $4)
				ON CONFLICT (delivery_id) DO NOTHING`, DeliveryID(s.id, msgID), s.id, msgID, BotEventPrefix+r.push.event)
			queued++
		}
	}
	b.Queue(projections.AdvanceCheckpointSQL, CheckpointName, int64(batch[len(batch)-1].Position))
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	if queued > 0 {
		d.Nudge()
	}
	return nil
}

// schedule starts a worker for each subscription with due deliveries, on
// every nudge, poll, or when the next scheduled attempt comes due.
func (d *Dispatcher) schedule(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.nudge:
		case <-timer.C:
		}
		wait := d.opts.PollInterval
		due, next, err := d.due(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			d.logger.Warn("webhooks: looking for due deliveries failed", "error", err)
		}
		for _, sub := range due {
			d.startWorker(ctx, sub)
		}
		if next != nil {
			if until := time.Until(*next); until < wait {
				wait = max(until, 5*time.Millisecond)
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wait)
	}
}

// due lists the enabled subscriptions with deliveries due now, and when the
// next one comes due.
func (d *Dispatcher) due(ctx context.Context) ([]string, *time.Time, error) {
	rows, _ := d.pool.Query(ctx, `SELECT s.subscription_id FROM webhook_subscriptions s WHERE s.enabled AND EXISTS (
			SELECT 1 FROM webhook_deliveries w WHERE w.subscription_id = s.subscription_id
			AND w.status IN ('pending', 'failed') AND w.next_attempt_at <= now() AND (w.lease_until IS NULL OR w.lease_until < now()))`)
	subs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, nil, err
	}
	// The next attempt comes due at next_attempt_at, or when its lease lapses.
	var next *time.Time
	err = d.pool.QueryRow(ctx, `SELECT min(GREATEST(w.next_attempt_at, COALESCE(w.lease_until, w.next_attempt_at))) FROM webhook_deliveries w
		JOIN webhook_subscriptions s ON s.subscription_id = w.subscription_id
		WHERE s.enabled AND w.status IN ('pending', 'failed') AND GREATEST(w.next_attempt_at, COALESCE(w.lease_until, w.next_attempt_at)) > now()`).Scan(&next)
	if err != nil {
		return subs, nil, err
	}
	return subs, next, nil
}

func (d *Dispatcher) startWorker(ctx context.Context, sub string) {
	d.mu.Lock()
	if w, ok := d.workers[sub]; ok {
		w.again = true
		d.mu.Unlock()
		return
	}
	w := &endpointWorker{}
	d.workers[sub] = w
	d.wg.Add(1)
	d.mu.Unlock()
	go func() {
		defer d.wg.Done()
		for ctx.Err() == nil {
			n, err := d.round(ctx, sub)
			if err != nil && ctx.Err() == nil {
				d.logger.Warn("webhooks: delivery round failed", "subscription_id", sub, "error", err)
				sleepCtx(ctx, time.Second)
			}
			if n > 0 && err == nil {
				continue
			}
			d.mu.Lock()
			if w.again && err == nil {
				w.again = false
				d.mu.Unlock()
				continue
			}
			delete(d.workers, sub)
			d.mu.Unlock()
			return
		}
		d.mu.Lock()
		delete(d.workers, sub)
		d.mu.Unlock()
	}()
}

func sleepCtx(ctx context.Context, dur time.Duration) {
	t := time.NewTimer(dur)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// Package election runs each follower role (a projector, a process manager)
// in exactly one process at a time.
//
// Every process that may run a role has an Elector. The Elector keeps one
// dedicated Postgres connection (not from the pool) and, every Interval, tries
// pg_try_advisory_lock(Namespace, LockKey(role)) for each registered role it
// does not hold. Winning a role starts its work with a context of its own;
// that context is cancelled the moment the lock may be lost: when a heartbeat
// on the dedicated connection fails or times out, when the connection breaks,
// or when the Elector stops. Session advisory locks live as long as the
// connection, so a holder that dies (SIGKILL) frees its roles at once, and
// one cut off from the network frees them when Postgres' TCP keepalives
// (set on the connection: about 6 s) give up on it; another process then wins
// them at its next attempt. By then the cut-off holder has already stopped
// its work, because its own heartbeat timed out first (Interval + 2 s).
//
// The election saves duplicated work; correctness never depends on it: a
// projector applies each batch under its checkpoint row lock and skips what is
// at or below the checkpoint, and process managers append with expected
// revisions. So a short overlap (the old holder finishing a batch while the
// new one starts) is harmless.
//
// Holders are recorded in the follower_leases table (migration 00012) so that
// any process and the CLI can show them (Leases).
package election

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Namespace is the first key of every role's advisory lock (the two-key
// form, which never collides with single bigint keys such as goose's).
const Namespace int32 = 0x534f4331 & 0x7fffffff // "SOC1"

// releasedChannel is NOTIFYed with the role's name when a holder gives a role
// up, so that the others contend at once instead of at their next tick.
const releasedChannel = "socialops_follower_released"

// Server-side TCP settings of the dedicated connection: Postgres closes the
// session of a holder it cannot reach (and so frees its locks) after about
// keepaliveIdle + keepaliveCount × keepaliveInterval seconds of silence, or
// after userTimeout of unacknowledged data.
const (
	keepaliveIdle     = 3
	keepaliveInterval = 1
	keepaliveCount    = 3
	userTimeoutMillis = 6000
)

// LockKey is the second advisory-lock key of a role: FNV-1a of its name,
// kept non-negative so that it reads the same in pg_locks.objid.
func LockKey(role string) int32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(role))
	return int32(h.Sum32() & 0x7fffffff)
}

// StartFunc is a role's work. It runs while the role is held and must return
// soon after ctx is cancelled. Returning by itself (with or without an error)
// gives the role up; it is contended again after Options.RetryAfter.
type StartFunc func(ctx context.Context) error

// Change tells a role was won or lost by this process.
type Change struct {
	Role string
	Held bool
	// Reason: "acquired", "released" (stop, or the work returned), or why the
	// lock may have been lost ("heartbeat failed: …").
	Reason string
	// PreviousHolder and PreviousHeartbeat, on acquisition, describe a lease
	// the previous holder left without releasing it (it died, or lost its
	// connection): this acquisition is a failover. Empty otherwise.
	PreviousHolder    string
	PreviousHeartbeat time.Time
	At                time.Time
}

// Failover tells whether an acquisition took over a role its previous holder
// did not release.
func (c Change) Failover() bool { return c.Held && c.PreviousHolder != "" }

// Stats are counters for metrics.
type Stats struct {
	Held         []string
	Acquisitions uint64 // roles won
	Failovers    uint64 // roles won from a holder that had not released them
	Losses       uint64 // roles given up because the lock may have been lost
	Releases     uint64 // roles given up cleanly (stop, or the work returned)
	Reconnects   uint64 // dedicated connections opened after the first
}

// Options tune an Elector.
type Options struct {
	// Interval between attempts to win free roles and between heartbeats
	// (default 1 s). A role lost here (heartbeat or connection failure) is
	// not contended here again for 2 × Interval, so another process wins it.
	Interval time.Duration
	// HeartbeatTimeout bounds one heartbeat; a slower one counts as a lost
	// connection (default 2 s). Keep Interval + HeartbeatTimeout below the
	// server's keepalive give-up time (about 6 s) so a cut-off holder stops
	// before another process can win its roles.
	HeartbeatTimeout time.Duration
	// LeaseRefresh is how often follower_leases.heartbeat_at is renewed and
	// the held locks are checked in pg_locks (default 5 s).
	LeaseRefresh time.Duration
	// RetryAfter is how long a role whose work returned by itself waits
	// before it is contended again here (default 5 s).
	RetryAfter time.Duration
	// Holder names this process (default host:pid:random).
	Holder string
	Logger *slog.Logger
	// OnChange, when set, is called (from the Elector's goroutine) each time a
	// role is won or lost.
	OnChange func(Change)
}

type role struct {
	name  string
	key   int32
	start StartFunc

	// Guarded by Elector.mu.
	held      bool
	cancel    context.CancelFunc
	done      chan struct{} // closed when the work returned; nil when not running
	notBefore time.Time
}

// Elector contends for roles on behalf of one process.
type Elector struct {
	cfg    *pgx.ConnConfig
	opts   Options
	logger *slog.Logger
	host   string

	mu      sync.Mutex
	roles   []*role
	byKey   map[int32]*role
	started bool
	stats   Stats

	conn        *pgx.Conn // only the Run goroutine touches it
	lastRefresh time.Time
}

// New returns an Elector that connects with databaseURL (a postgres:// URL;
// pool_* parameters are ignored). Register roles, then Run it.
func New(databaseURL string, opts Options) (*Elector, error) {
	pcfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("election: parse database url: %w", err)
	}
	cfg := pcfg.ConnConfig
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.HeartbeatTimeout <= 0 {
		opts.HeartbeatTimeout = 2 * time.Second
	}
	if opts.LeaseRefresh <= 0 {
		opts.LeaseRefresh = 5 * time.Second
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	host, _ := os.Hostname()
	if host == "" {
		host = "unknown"
	}
	if opts.Holder == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		opts.Holder = host + ":" + strconv.Itoa(os.Getpid()) + ":" + hex.EncodeToString(b[:])
	}
	if cfg.ConnectTimeout == 0 || cfg.ConnectTimeout > 5*time.Second {
		cfg.ConnectTimeout = 5 * time.Second
	}
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	cfg.RuntimeParams["application_name"] = "socialops-election " + opts.Holder
	cfg.RuntimeParams["tcp_keepalives_idle"] = strconv.Itoa(keepaliveIdle)
	cfg.RuntimeParams["tcp_keepalives_interval"] = strconv.Itoa(keepaliveInterval)
	cfg.RuntimeParams["tcp_keepalives_count"] = strconv.Itoa(keepaliveCount)
	cfg.RuntimeParams["tcp_user_timeout"] = strconv.Itoa(userTimeoutMillis)
	return &Elector{cfg: cfg, opts: opts, host: host, byKey: map[int32]*role{},
		logger: opts.Logger.With("component", "election", "holder", opts.Holder)}, nil
}

// Holder is this process's holder id, as written in follower_leases.
func (e *Elector) Holder() string { return e.opts.Holder }

// Register adds a role. Call it before Run.
func (e *Elector) Register(name string, start StartFunc) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.started {
		return fmt.Errorf("election: register %q: the elector already runs", name)
	}
	if name == "" || start == nil {
		return errors.New("election: a role needs a name and a start function")
	}
	key := LockKey(name)
	if other, ok := e.byKey[key]; ok {
		if other.name == name {
			return fmt.Errorf("election: role %q registered twice", name)
		}
		return fmt.Errorf("election: roles %q and %q have the same lock key; rename one", other.name, name)
	}
	r := &role{name: name, key: key, start: start}
	e.roles = append(e.roles, r)
	e.byKey[key] = r
	return nil
}

// Held lists the roles this process holds now, sorted.
func (e *Elector) Held() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.heldLocked()
}

func (e *Elector) heldLocked() []string {
	out := []string{}
	for _, r := range e.roles {
		if r.held {
			out = append(out, r.name)
		}
	}
	sort.Strings(out)
	return out
}

// Stats returns the counters.
func (e *Elector) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.stats
	s.Held = e.heldLocked()
	return s
}

// Run contends for the registered roles until ctx ends, then stops every
// role's work, waits for it, and releases the locks. It returns nil after a
// graceful stop.
func (e *Elector) Run(ctx context.Context) error {
	e.mu.Lock()
	if e.started {
		e.mu.Unlock()
		return errors.New("election: Run called twice")
	}
	e.started = true
	e.mu.Unlock()
	e.logger.Info("election starting", "roles", len(e.roles), "interval", e.opts.Interval.String())

	connected := false
	for ctx.Err() == nil {
		if e.conn == nil {
			if err := e.connect(ctx); err != nil {
				if ctx.Err() == nil {
					e.logger.Warn("election: cannot open the dedicated connection; retrying", "error", err)
				}
				sleep(ctx, e.opts.Interval)
				continue
			}
			if connected {
				e.count(func(s *Stats) { s.Reconnects++ })
			}
			connected = true
		}
		if err := e.tick(ctx); err != nil {
			if ctx.Err() != nil {
				break
			}
			e.loseAll("heartbeat failed: " + err.Error())
			e.closeConn()
			continue
		}
		if err := e.wait(ctx); err != nil && ctx.Err() == nil {
			e.loseAll("connection lost: " + err.Error())
			e.closeConn()
		}
	}
	e.stop()
	return nil
}

// connect opens the dedicated connection and listens for releases.
func (e *Elector) connect(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, e.cfg)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	qctx, cancel := context.WithTimeout(ctx, e.opts.HeartbeatTimeout)
	defer cancel()
	if _, err := conn.Exec(qctx, "LISTEN "+releasedChannel); err != nil {
		closeQuietly(conn)
		return fmt.Errorf("listen: %w", err)
	}
	e.conn = conn
	e.logger.Debug("election connection open", "backend_pid", conn.PgConn().PID())
	return nil
}

func (e *Elector) closeConn() {
	if e.conn != nil {
		closeQuietly(e.conn)
		e.conn = nil
	}
}

func closeQuietly(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = conn.Close(ctx)
}

// tick is one heartbeat: it gives up roles whose work returned, renews the
// leases when due, and tries to win the free roles. Any error means the
// connection (and so every lock) may be lost.
func (e *Elector) tick(ctx context.Context) error {
	// Not cut short by a stop: a query interrupted halfway would leave the
	// connection unusable for the release that follows.
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.opts.HeartbeatTimeout)
	defer cancel()
	if _, err := e.conn.Exec(qctx, "SELECT 1"); err != nil {
		return err
	}
	if err := e.releaseFinished(qctx); err != nil {
		return err
	}
	if time.Since(e.lastRefresh) >= e.opts.LeaseRefresh {
		if err := e.refresh(qctx); err != nil {
			return err
		}
		e.lastRefresh = time.Now()
	}
	return e.contend(ctx, qctx)
}

// releaseFinished unlocks roles whose work returned while they were held.
func (e *Elector) releaseFinished(ctx context.Context) error {
	now := time.Now()
	var finished []*role
	e.mu.Lock()
	for _, r := range e.roles {
		if r.done == nil || !closed(r.done) {
			continue
		}
		r.done = nil
		if r.held {
			finished = append(finished, r)
		}
	}
	e.mu.Unlock()
	for _, r := range finished {
		if err := e.release(ctx, r); err != nil {
			return err
		}
		e.mu.Lock()
		r.held, r.cancel = false, nil
		r.notBefore = now.Add(e.opts.RetryAfter)
		e.stats.Releases++
		e.mu.Unlock()
		e.logger.Warn("election: a role's work returned by itself; released it", "role", r.name,
			"retry_after", e.opts.RetryAfter.String())
		e.changed(Change{Role: r.name, Held: false, Reason: "released", At: now})
	}
	return nil
}

// release gives one role's lock up, deletes its lease row and tells the others.
func (e *Elector) release(ctx context.Context, r *role) error {
	if _, err := e.conn.Exec(ctx, `SELECT pg_advisory_unlock($1, $2)`, Namespace, r.key); err != nil {
		return fmt.Errorf("unlock %s: %w", r.name, err)
	}
	if _, err := e.conn.Exec(ctx, `DELETE FROM follower_leases WHERE role = $1 AND holder = $2`, r.name, e.opts.Holder); err != nil {
		return fmt.Errorf("delete lease of %s: %w", r.name, err)
	}
	if _, err := e.conn.Exec(ctx, `SELECT pg_notify($1, $2)`, releasedChannel, r.name); err != nil {
		return fmt.Errorf("notify release of %s: %w", r.name, err)
	}
	return nil
}

// refresh renews the lease rows of the held roles and checks in pg_locks that
// this session still holds their locks.
func (e *Elector) refresh(ctx context.Context) error {
	e.mu.Lock()
	var held []*role
	for _, r := range e.roles {
		if r.held {
			held = append(held, r)
		}
	}
	e.mu.Unlock()
	if len(held) == 0 {
		return nil
	}
	names := make([]string, len(held))
	for i, r := range held {
		names[i] = r.name
	}
	if _, err := e.conn.Exec(ctx, `UPDATE follower_leases SET heartbeat_at = now() WHERE holder = $1 AND role = ANY($2)`,
		e.opts.Holder, names); err != nil {
		return fmt.Errorf("renew leases: %w", err)
	}
	rows, err := e.conn.Query(ctx, `SELECT objid::bigint FROM pg_locks
		WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted AND classid::bigint = $1 AND objsubid = 2`, int64(Namespace))
	if err != nil {
		return fmt.Errorf("check locks: %w", err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return fmt.Errorf("check locks: %w", err)
	}
	have := map[int64]bool{}
	for _, k := range keys {
		have[k] = true
	}
	for _, r := range held {
		if !have[int64(r.key)] {
			// Someone unlocked it behind our back (pg_advisory_unlock_all on
			// this session cannot happen; a pooler in between could).
			e.lose(r, "lock no longer held")
		}
	}
	return nil
}

// contend tries to win every free role in one round trip and starts the work
// of those won.
func (e *Elector) contend(runCtx, ctx context.Context) error {
	now := time.Now()
	var want []int32
	e.mu.Lock()
	for _, r := range e.roles {
		if !r.held && r.done == nil && !now.Before(r.notBefore) {
			want = append(want, r.key)
		}
	}
	e.mu.Unlock()
	if len(want) == 0 {
		return nil
	}
	rows, err := e.conn.Query(ctx, `SELECT k::int4 FROM unnest($2::int4[]) AS k WHERE pg_try_advisory_lock($1, k)`, Namespace, want)
	if err != nil {
		return fmt.Errorf("contend: %w", err)
	}
	won, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return fmt.Errorf("contend: %w", err)
	}
	for _, key := range won {
		r := e.byKey[key]
		var prevHolder *string
		var prevBeat *time.Time
		err := e.conn.QueryRow(ctx, `WITH old AS (SELECT holder, heartbeat_at FROM follower_leases WHERE role = $1)
			INSERT INTO follower_leases (role, holder, pid, host, acquired_at, heartbeat_at)
			VALUES ($1, $2, $3, $4, now(), now())
			ON CONFLICT (role) DO UPDATE SET holder = EXCLUDED.holder, pid = EXCLUDED.pid, host = EXCLUDED.host,
				acquired_at = EXCLUDED.acquired_at, heartbeat_at = EXCLUDED.heartbeat_at
			RETURNING (SELECT holder FROM old), (SELECT heartbeat_at FROM old)`,
			r.name, e.opts.Holder, os.Getpid(), e.host).Scan(&prevHolder, &prevBeat)
		if err != nil {
			// The lock is ours but unrecorded: the caller drops the
			// connection, which frees it.
			return fmt.Errorf("record lease of %s: %w", r.name, err)
		}
		c := Change{Role: r.name, Held: true, Reason: "acquired", At: time.Now()}
		if prevHolder != nil {
			c.PreviousHolder = *prevHolder
		}
		if prevBeat != nil {
			c.PreviousHeartbeat = *prevBeat
		}
		e.startRole(runCtx, r, c)
	}
	return nil
}

func (e *Elector) changed(c Change) {
	if e.opts.OnChange != nil {
		e.opts.OnChange(c)
	}
}

func (e *Elector) count(f func(*Stats)) {
	e.mu.Lock()
	f(&e.stats)
	e.mu.Unlock()
}

func closed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

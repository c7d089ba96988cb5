package election

// A won role's work: started with a context cancelled when the lock may be
// lost, given up on a loss, released on a stop.

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"
)

func (e *Elector) startRole(runCtx context.Context, r *role, c Change) {
	// The work's context is not derived from runCtx: stop cancels it itself,
	// so that every role stops before any lock is released.
	wctx, cancel := context.WithCancel(context.WithoutCancel(runCtx))
	done := make(chan struct{})
	e.mu.Lock()
	r.held, r.cancel, r.done = true, cancel, done
	e.stats.Acquisitions++
	if c.Failover() {
		e.stats.Failovers++
	}
	e.mu.Unlock()
	attrs := []any{"role", r.name}
	if c.Failover() {
		attrs = append(attrs, "took_over_from", c.PreviousHolder,
			"since_last_heartbeat", c.At.Sub(c.PreviousHeartbeat).Round(time.Millisecond).String())
	}
	e.logger.Info("election: role acquired", attrs...)
	go func() {
		defer close(done)
		err := runSafely(wctx, r.start)
		switch {
		case wctx.Err() != nil:
			if err != nil {
				e.logger.Warn("election: role's work stopped with an error", "role", r.name, "error", err)
			}
		case err != nil:
			e.logger.Error("election: role's work failed", "role", r.name, "error", err)
		default:
			e.logger.Warn("election: role's work returned", "role", r.name)
		}
	}()
	e.changed(c)
}

func runSafely(ctx context.Context, start StartFunc) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	return start(ctx)
}

// lose cancels a held role's work because its lock may be lost.
func (e *Elector) lose(r *role, reason string) {
	e.mu.Lock()
	if !r.held {
		e.mu.Unlock()
		return
	}
	r.held = false
	r.cancel()
	r.cancel = nil
	// Give the other processes (which try every Interval) a fair chance at
	// it before this one, whose connection just failed, tries again.
	r.notBefore = time.Now().Add(2 * e.opts.Interval)
	e.stats.Losses++
	e.mu.Unlock()
	e.logger.Warn("election: role lost; its work is stopped", "role", r.name, "reason", reason)
	e.changed(Change{Role: r.name, Held: false, Reason: reason, At: time.Now()})
}

func (e *Elector) loseAll(reason string) {
	for _, r := range e.roles {
		e.lose(r, reason)
	}
}

// wait sleeps until the next tick, waking early when another process releases
// a role.
func (e *Elector) wait(ctx context.Context) error {
	wctx, cancel := context.WithTimeout(ctx, e.opts.Interval)
	defer cancel()
	_, err := e.conn.WaitForNotification(wctx)
	if err == nil || wctx.Err() != nil && !e.conn.IsClosed() {
		return nil
	}
	return err
}

// stop cancels every role's work, waits for it to return, then releases the
// locks and lease rows and tells the other processes.
func (e *Elector) stop() {
	e.mu.Lock()
	var held []*role
	var running []chan struct{}
	for _, r := range e.roles {
		if r.held {
			held = append(held, r)
			r.cancel()
		}
		if r.done != nil {
			running = append(running, r.done)
		}
	}
	e.mu.Unlock()
	for _, done := range running {
		for waited := false; !waited; {
			select {
			case <-done:
				waited = true
			case <-time.After(5 * time.Second):
				e.logger.Warn("election: stopping: still waiting for a role's work to return")
			}
		}
	}
	if e.conn != nil && len(held) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), e.opts.HeartbeatTimeout)
		if err := e.releaseAll(ctx, held); err != nil {
			e.logger.Warn("election: stopping: release failed; closing the connection frees the locks", "error", err)
		}
		cancel()
	}
	e.closeConn()
	now := time.Now()
	e.mu.Lock()
	for _, r := range held {
		r.held, r.cancel = false, nil
		e.stats.Releases++
	}
	e.mu.Unlock()
	for _, r := range held {
		e.changed(Change{Role: r.name, Held: false, Reason: "released", At: now})
	}
	e.logger.Info("election stopped", "released", len(held))
}

func (e *Elector) releaseAll(ctx context.Context, held []*role) error {
	names := make([]string, len(held))
	for i, r := range held {
		names[i] = r.name
	}
	if _, err := e.conn.Exec(ctx, `SELECT pg_advisory_unlock_all()`); err != nil {
		return err
	}
	if _, err := e.conn.Exec(ctx, `DELETE FROM follower_leases WHERE holder = $1`, e.opts.Holder); err != nil {
		return err
	}
	for _, n := range names {
		if _, err := e.conn.Exec(ctx, `SELECT pg_notify($1, $2)`, releasedChannel, n); err != nil {
			return err
		}
	}
	return nil
}

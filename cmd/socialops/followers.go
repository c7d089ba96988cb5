package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/socialops/socialops/adapters/assistant"

	"github.com/socialops/socialops/adapters/deliveryworker"
	"github.com/socialops/socialops/adapters/election"
	"github.com/socialops/socialops/adapters/projectionrunner"
	"github.com/socialops/socialops/adapters/routing"
	"github.com/socialops/socialops/adapters/statistics"
	"github.com/socialops/socialops/adapters/webhooks"
	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

// followers holds what the follower roles need. Each projector is a role of
// its own (named as the projector); each process manager is a role listed in
// processManagers. One process at a time runs each role (adapters/election).
type followers struct {
	app      *app
	registry *domain.Registry
	logger   *slog.Logger
	delivery *deliveryworker.Worker
	webhooks *webhooks.Dispatcher
	routing  *routing.Router
	assist   *assistant.Follower
	daily    *statistics.Daily

	mu      sync.Mutex
	runners map[string]*projectionrunner.Runner // projector roles running here now
}

// processManagers are the roles besides the projectors. Adding a follower is
// one line here (routing and bot pushes will be).
var processManagers = []struct {
	role       string
	checkpoint string // its row in projection_checkpoints
	start      func(f *followers) election.StartFunc
}{
	{"delivery", deliveryworker.CheckpointName, func(f *followers) election.StartFunc { return f.delivery.Run }},
	{"webhooks", webhooks.CheckpointName, func(f *followers) election.StartFunc { return f.webhooks.Run }},
	{"routing", routing.CheckpointName, func(f *followers) election.StartFunc { return f.routing.Run }},
	{"assistant", assistant.CheckpointName, func(f *followers) election.StartFunc { return f.assist.Run }},
	{"statistics", statistics.CheckpointName, func(f *followers) election.StartFunc { return f.daily.Run }},
}

// followerRoles names every role, projectors first.
func followerRoles() []string {
	var out []string
	for _, p := range projections.All() {
		out = append(out, p.Name())
	}
	for _, pm := range processManagers {
		out = append(out, pm.role)
	}
	return out
}

// register adds every role to the elector.
func (f *followers) register(e *election.Elector) error {
	f.runners = map[string]*projectionrunner.Runner{}
	for _, p := range projections.All() {
		if err := e.Register(p.Name(), f.projector(p)); err != nil {
			return err
		}
	}
	for _, pm := range processManagers {
		if err := e.Register(pm.role, pm.start(f)); err != nil {
			return err
		}
	}
	return nil
}

// projector runs one projector, from its checkpoint, while its role is held.
func (f *followers) projector(p projections.Projector) election.StartFunc {
	return func(ctx context.Context) error {
		r := projectionrunner.New(f.app.pool, f.app.store, f.registry, projectionrunner.Options{
			Projectors: []projections.Projector{p}, Logger: f.logger,
		})
		f.mu.Lock()
		f.runners[p.Name()] = r
		f.mu.Unlock()
		defer func() {
			f.mu.Lock()
			delete(f.runners, p.Name())
			f.mu.Unlock()
		}()
		return r.Run(ctx)
	}
}

// Healthy reports a projector halted in this process (/readyz). Projectors
// other processes run are theirs to report.
func (f *followers) Healthy() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var errs []error
	for _, p := range projections.All() {
		if r, ok := f.runners[p.Name()]; ok {
			if err := r.Healthy(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// printFollowerStatus prints, for each follower role (projectors, then
// process managers), who runs it and how far it is (`projections status`).
// LAG stays the last column: scripts read it.
func printFollowerStatus(ctx context.Context, a *app, stdout io.Writer) error {
	sts, err := projections.Statuses(ctx, a.pool, a.store)
	if err != nil {
		return err
	}
	head, err := a.store.HeadPosition(ctx)
	if err != nil {
		return err
	}
	for _, pm := range processManagers {
		cp, err := projections.Checkpoint(ctx, a.pool, pm.checkpoint)
		if err != nil {
			return err
		}
		s := projections.ProjectorStatus{Name: pm.role, Checkpoint: cp, Head: head}
		if head > cp {
			s.Lag = head - cp
		}
		sts = append(sts, s)
	}
	leases, err := election.Leases(ctx, a.pool, followerRoles())
	if err != nil {
		return err
	}
	byRole := map[string]election.Lease{}
	for _, l := range leases {
		byRole[l.Role] = l
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "FOLLOWER\tSTATE\tHOLDER\tSINCE\tHEARTBEAT\tCHECKPOINT\tHEAD\tLAG\tPARKED")
	now := time.Now()
	parked := 0
	for _, s := range sts {
		l := byRole[s.Name]
		holder, since, beat := "-", "-", "-"
		if l.Holder != "" {
			holder = l.Holder
			since = l.AcquiredAt.UTC().Format(time.RFC3339)
			beat = now.Sub(l.HeartbeatAt).Round(time.Second).String() // its age
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\n", s.Name, l.State(), holder, since, beat, s.Checkpoint, s.Head, s.Lag, s.Parked)
		parked += s.Parked
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if parked == 0 {
		return nil
	}
	fmt.Fprintf(stdout, "\n%d parked event(s): not applied; retry or skip each with `socialops projections retry|skip`\n", parked)
	return printParked(ctx, a, "", false, stdout)
}

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

// parkedCmd runs `projections parked [name] [--all]`, `projections retry
// <name> <position>` and `projections skip <name> <position> --reason R`.
func parkedCmd(ctx context.Context, a *app, args []string, stdout io.Writer) error {
	name := "projections " + args[1]
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	all := fs.Bool("all", false, "list resolved and skipped events too")
	reason := fs.String("reason", "", "why the event is skipped (kept for audit)")
	// Positional arguments first, flags after (or before): collect both.
	var pos []string
	rest := args[2:]
	for len(rest) > 0 {
		if err := fs.Parse(rest); err != nil {
			return &usageError{fmt.Sprintf("%s: %v", name, err)}
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	switch args[1] {
	case "parked":
		if len(pos) > 1 {
			return &usageError{"projections parked takes at most one projector name"}
		}
		projector := ""
		if len(pos) == 1 {
			p, err := projectorByName(pos[0])
			if err != nil {
				return err
			}
			projector = p.Name()
		}
		return printParked(ctx, a, projector, *all, stdout)
	case "retry", "skip":
		if len(pos) != 2 {
			return &usageError{name + " needs a projector name and a position"}
		}
		p, err := projectorByName(pos[0])
		if err != nil {
			return err
		}
		at, err := strconv.ParseUint(pos[1], 10, 64)
		if err != nil || at == 0 {
			return &usageError{fmt.Sprintf("%s: position %q is not a log position", name, pos[1])}
		}
		if args[1] == "retry" {
			if err := projections.RetryParked(ctx, a.pool, a.store, domain.NewEventRegistry(), p, at); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s: applied the event at position %d; marked resolved\n", p.Name(), at)
			return nil
		}
		if *reason == "" {
			return &usageError{"projections skip needs --reason: it is kept for audit"}
		}
		if err := projections.SkipParked(ctx, a.pool, p.Name(), at, *reason); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: the event at position %d stays unapplied; marked skipped\n", p.Name(), at)
		return nil
	}
	return &usageError{"unknown projections command " + args[1]}
}

func projectorByName(name string) (projections.Projector, error) {
	p, ok := projections.ByName(name)
	if !ok {
		return nil, fmt.Errorf("unknown projector %q: %s", name, projectorNames())
	}
	return p, nil
}

func printParked(ctx context.Context, a *app, projector string, all bool, stdout io.Writer) error {
	evs, err := projections.ListParked(ctx, a.pool, projector, all)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "PROJECTOR\tPOSITION\tSTATE\tEVENT TYPE\tEVENT ID\tSTREAM\tPARKED AT\tATTEMPTS\tERROR / REASON")
	for _, e := range evs {
		detail := e.Error
		if e.Reason != "" {
			detail = e.Reason + " (" + e.Error + ")"
		}
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", e.Projector, e.Position, e.State, e.EventType, e.EventID,
			e.Stream, e.ParkedAt.UTC().Format("2006-01-02T15:04:05Z"), e.Attempts, detail)
	}
	return w.Flush()
}

// rebindCmd binds the read side to the configured event store, emptying it,
// and rebuilds every projection from that store.
func rebindCmd(ctx context.Context, a *app, registry *domain.Registry, args []string, stdout io.Writer) error {
	if len(args) > 2 {
		return &usageError{"projections rebind takes no arguments"}
	}
	id, err := a.store.Identity(ctx)
	if err != nil {
		return fmt.Errorf("read the event store's identity: %w", err)
	}
	before, err := projections.BoundStore(ctx, a.pool)
	if err != nil {
		return err
	}
	if err := projections.Rebind(ctx, a.pool, id); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "read side bound to event store %s (was %q); snapshots, checkpoints and parked events cleared\n", id, before)
	for _, p := range projections.All() {
		res, err := projections.Rebuild(ctx, a.pool, a.store, registry, p)
		if err != nil {
			return fmt.Errorf("rebuild %s (a running serve would also replay it from 0): %w", p.Name(), err)
		}
		fmt.Fprintf(stdout, "rebuilt %s: %d events, now at position %d\n", res.Projector, res.Events, res.Position)
	}
	return nil
}

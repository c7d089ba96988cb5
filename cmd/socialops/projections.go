package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

// projectionsCmd runs `socialops projections status | rebuild <name> |
// verify [name] | parked [name] [--all] | retry <name> <position> |
// skip <name> <position> --reason R | rebind`. Rebuild and verify show their
// progress on stderr (see replayReporter).
func projectionsCmd(ctx context.Context, cfg Config, logger *slog.Logger, args []string, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		return &usageError{"projections needs status, rebuild <name>, verify [name], parked, retry, skip or rebind"}
	}
	open := openApp
	if args[1] == "rebind" {
		open = openAppUnbound // the fix for a read side bound to another store
	}
	a, err := open(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer a.Close()
	registry := domain.NewEventRegistry()
	pick := func(required bool) ([]projections.Projector, error) {
		if len(args) < 3 {
			if required {
				return nil, &usageError{"projections " + args[1] + " needs a projector name: " + projectorNames()}
			}
			return projections.All(), nil
		}
		p, ok := projections.ByName(args[2])
		if !ok {
			return nil, fmt.Errorf("unknown projector %q: %s", args[2], projectorNames())
		}
		return []projections.Projector{p}, nil
	}
	switch args[1] {
	case "status":
		return printFollowerStatus(ctx, a, stdout)
	case "parked", "retry", "skip":
		return parkedCmd(ctx, a, args, stdout)
	case "rebind":
		return rebindCmd(ctx, a, registry, args, stdout)
	case "rebuild":
		ps, err := pick(true)
		if err != nil {
			return err
		}
		progress := newReplayReporter(stderr, "rebuild "+ps[0].Name())
		res, err := projections.Rebuild(projections.WithProgress(ctx, progress.report), a.pool, a.store, registry, ps[0])
		progress.finish()
		if err != nil {
			return err
		}
		rate := float64(res.Events) / max(res.Elapsed.Seconds(), 1e-9)
		fmt.Fprintf(stdout, "rebuilt %s: %d events in %s (%.0f events/s), now at position %d\n",
			res.Projector, res.Events, res.Elapsed.Round(1e6), rate, res.Position)
		return nil
	case "verify":
		ps, err := pick(false)
		if err != nil {
			return err
		}
		failed := false
		for _, p := range ps {
			progress := newReplayReporter(stderr, "verify "+p.Name())
			diffs, err := projections.Verify(projections.WithProgress(ctx, progress.report), a.pool, a.store, registry, p, 5)
			progress.finish()
			if err != nil {
				return err
			}
			if len(diffs) == 0 {
				fmt.Fprintf(stdout, "%s: ok\n", p.Name())
				continue
			}
			failed = true
			fmt.Fprintf(stdout, "%s: DIFFERS from a fresh rebuild\n", p.Name())
			for _, d := range diffs {
				fmt.Fprintf(stdout, "  %s %s: %s\n", d.Table, d.Side, d.Row)
			}
		}
		if failed {
			return fmt.Errorf("projections verify found differences")
		}
		return nil
	default:
		return &usageError{"unknown projections command " + args[1]}
	}
}

func projectorNames() string {
	s := ""
	for i, p := range projections.All() {
		if i > 0 {
			s += ", "
		}
		s += p.Name()
	}
	return s
}

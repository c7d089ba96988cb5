package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/socialops/socialops/adapters/eventstore"
	"github.com/socialops/socialops/projections"
)

// openApp opens the service and refuses a read side (checkpoints, parked
// events, read models, snapshots) built from another event store than the
// configured one; the first run binds it. Every command that opens the
// service goes through here, serve included.
func openApp(ctx context.Context, cfg Config, logger *slog.Logger, wrap ...func(eventstore.Store) eventstore.Store) (*app, error) {
	a, err := openAppUnbound(ctx, cfg, logger, wrap...)
	if err != nil {
		return nil, err
	}
	if err := bindReadSide(ctx, a, logger); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

func bindReadSide(ctx context.Context, a *app, logger *slog.Logger) error {
	id, err := a.store.Identity(ctx)
	if err != nil {
		return fmt.Errorf("read the event store's identity: %w", err)
	}
	if err := projections.BindStore(ctx, a.pool, id); err != nil {
		return err
	}
	logger.Debug("read side bound to the event store", "store_id", id)
	return nil
}

package main

import (
	"github.com/socialops/socialops/adapters/realtime"

	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/socialops/socialops/adapters/deliveryworker"
	"github.com/socialops/socialops/adapters/election"
	"github.com/socialops/socialops/adapters/eventstore"
	pgstore "github.com/socialops/socialops/adapters/eventstore/postgres"
	httpapi "github.com/socialops/socialops/adapters/http"
	"github.com/socialops/socialops/adapters/metrics"
	"github.com/socialops/socialops/projections"
)

// serveMetrics is serve's Prometheus wiring: the registry, the hooks handed
// to the parts that record, and the server on SOCIALOPS_METRICS_ADDR. A nil
// *serveMetrics (metrics off) hands out nil hooks and serves nothing.
type serveMetrics struct {
	m    *metrics.Metrics
	srv  *http.Server
	errc chan error
}

func newServeMetrics(cfg Config) *serveMetrics {
	if cfg.MetricsAddr == "" {
		return nil
	}
	return &serveMetrics{m: metrics.New(), errc: make(chan error, 1)}
}

// storeWrappers instrument the event store: appends through the port for any
// backend, group-commit batches for the Postgres store.
func (s *serveMetrics) storeWrappers() []func(eventstore.Store) eventstore.Store {
	if s == nil {
		return nil
	}
	return []func(eventstore.Store) eventstore.Store{func(store eventstore.Store) eventstore.Store {
		if ps, ok := store.(*pgstore.Store); ok {
			ps.SetObserver(s.m.EventStore)
		}
		return s.m.EventStore.Instrument(store)
	}}
}

// watchFollowers reports every follower's position and lag at scrape time.
func (s *serveMetrics) watchFollowers(a *app, logger *slog.Logger) error {
	if s == nil {
		return nil
	}
	names := []string{deliveryworker.CheckpointName}
	for _, p := range projections.All() {
		names = append(names, p.Name())
	}
	return s.m.RegisterFollowers(metrics.NewFollowers(a.pool, a.store, metrics.FollowersOptions{Names: names, Logger: logger}))
}

// roleChanges is election.Options.OnChange: the roles this process holds
// and how they change hands.
func (s *serveMetrics) roleChanges() func(election.Change) {
	if s == nil {
		return nil
	}
	s.m.Election.Known(followerRoles())
	return func(c election.Change) {
		s.m.Election.Change(c.Role, c.Held, c.Failover(), c.Reason == "released")
	}
}

// deliveryOutcomes is deliveryworker.Options.OnOutcome.
func (s *serveMetrics) deliveryOutcomes() func(string) {
	if s == nil {
		return nil
	}
	return s.m.Deliveries.Observe
}

// requests is httpapi.Deps.Metrics (a nil interface when off).
func (s *serveMetrics) requests() httpapi.RequestObserver {
	if s == nil {
		return nil
	}
	return s.m.HTTP
}

// webSockets counts WebSocket connections (nil without metrics).
func (s *serveMetrics) webSockets() realtime.Observer {
	if s == nil {
		return nil
	}
	return s.m.WebSockets
}

// listen binds SOCIALOPS_METRICS_ADDR and serves GET /metrics on it.
func (s *serveMetrics) listen(cfg Config, logger *slog.Logger) error {
	if s == nil {
		return nil
	}
	ln, err := net.Listen("tcp", cfg.MetricsAddr)
	if err != nil {
		return fmt.Errorf("listen on %s (SOCIALOPS_METRICS_ADDR): %w", cfg.MetricsAddr, err)
	}
	s.srv = s.m.Server(logger)
	logger.Info("serving metrics", "addr", ln.Addr().String(), "path", "/metrics")
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.errc <- fmt.Errorf("metrics server: %w", err)
		}
	}()
	return nil
}

// failed delivers a failure of the metrics server (never, when off).
func (s *serveMetrics) failed() <-chan error {
	if s == nil {
		return nil
	}
	return s.errc
}

func (s *serveMetrics) shutdown(ctx context.Context) error {
	if s == nil || s.srv == nil {
		return nil
	}
	if err := s.srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics shutdown: %w", err)
	}
	return nil
}

// close stops the metrics server at once (after shutdown, or on an early return).
func (s *serveMetrics) close() {
	if s != nil && s.srv != nil {
		_ = s.srv.Close()
	}
}

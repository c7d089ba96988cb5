package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/socialops/socialops/adapters/console"
	"github.com/socialops/socialops/adapters/statistics"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/socialops/socialops/adapters/deliveryworker"
	"github.com/socialops/socialops/adapters/election"
	"github.com/socialops/socialops/adapters/eventstore"
	"github.com/socialops/socialops/adapters/eventstore/kurrentdb"
	pgstore "github.com/socialops/socialops/adapters/eventstore/postgres"
	httpapi "github.com/socialops/socialops/adapters/http"
	"github.com/socialops/socialops/adapters/postgres"
	"github.com/socialops/socialops/adapters/realtime"
	"github.com/socialops/socialops/adapters/routing"
	"github.com/socialops/socialops/adapters/telegram"
	"github.com/socialops/socialops/adapters/wecom"
	"github.com/socialops/socialops/commands"
	"github.com/socialops/socialops/domain"
)

// app is the wired service.
type app struct {
	pool     *pgxpool.Pool
	store    eventstore.Store
	tenancy  *postgres.Tenancy
	accounts *postgres.Accounts
	commands *commands.Service
}

// openAppUnbound opens the service without checking that the read side
// belongs to the configured event store (openApp does); only `projections
// rebind` uses it directly. wrap, when given, decorates the event store
// (metrics) before anything uses it.
func openAppUnbound(ctx context.Context, cfg Config, logger *slog.Logger, wrap ...func(eventstore.Store) eventstore.Store) (*app, error) {
	pool, err := postgres.Connect(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	if err := postgres.Migrate(ctx, pool, logger); err != nil {
		pool.Close()
		return nil, err
	}
	var store eventstore.Store
	if cfg.EventStoreURL == "" {
		store = pgstore.New(pool, logger)
		logger.Debug("event store: postgres")
	} else {
		ks, err := kurrentdb.Open(ctx, cfg.EventStoreURL, logger)
		if err != nil {
			pool.Close()
			return nil, fmt.Errorf("open event store: %w", err)
		}
		store = ks
		logger.Debug("event store: kurrentdb")
	}
	for _, w := range wrap {
		store = w(store)
	}
	svc := commands.NewService(store, domain.NewEventRegistry(), commands.Options{Logger: logger, Snapshots: postgres.NewSnapshots(pool)})
	svc.InboundFeeMicroUSD = cfg.InboundFeeMicroUSD
	return &app{pool: pool, store: store, tenancy: postgres.NewTenancy(pool, nil).WithEncryptionKey(cfg.EncryptionKey),
		accounts: postgres.NewAccounts(pool, cfg.EncryptionKey, nil), commands: svc}, nil
}

func (a *app) Close() {
	_ = a.store.Close()
	a.pool.Close()
}

type poolPinger struct{ pool *pgxpool.Pool }

func (p poolPinger) Ping(ctx context.Context) error { return p.pool.Ping(ctx) }

func migrate(ctx context.Context, cfg Config, logger *slog.Logger) error {
	pool, err := postgres.Connect(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	return postgres.Migrate(ctx, pool, logger)
}

func serve(ctx context.Context, cfg Config, logger *slog.Logger) error {
	sm := newServeMetrics(cfg)
	a, err := openApp(ctx, cfg, logger, sm.storeWrappers()...)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := sm.watchFollowers(a, logger); err != nil {
		return err
	}
	// Stored bot tokens are unreadable without their key: refuse to start.
	if err := requireEncryptionKey(ctx, cfg, a.pool); err != nil {
		return err
	}
	if err := encryptPlainWebhookSecrets(ctx, cfg, a.tenancy, logger); err != nil {
		return err
	}

	registry := domain.NewEventRegistry()
	hooks := webhookStore(a, cfg)
	bots := botStore(a, cfg, hooks)
	a.commands.WithBots(bots)
	readModels := deliveryworker.ReadModels{Q: a.pool, Head: a.store.HeadPosition}
	manager := commands.NewDeliveryManager(a.commands, readModels, a.accounts, readModels,
		telegram.NewSender(cfg.TelegramAPIURL, cfg.DeliveryTimeout), commands.DeliveryOptions{
			FeeMicroUSD: cfg.ReplyFeeMicroUSD, MaxAttempts: int(cfg.DeliveryMaxAttempts), BaseBackoff: cfg.DeliveryBackoff,
			SendTimeout: cfg.DeliveryTimeout, Lease: cfg.DeliveryLease, MaxResolveFailures: int(cfg.DeliveryMaxUnresolved),
		})
	manager.WithProviderSender(wecom.Provider, wecom.NewSender(cfg.WeComAPIURL, cfg.DeliveryTimeout, weComCredentials(a.tenancy)))
	worker := deliveryworker.New(a.pool, a.store, registry, manager, deliveryworker.Options{
		Concurrency: int(cfg.DeliveryConcurrency), SweepEvery: cfg.DeliverySweepInterval, StuckAfter: cfg.DeliveryStuckAfter, Logger: logger,
		OnOutcome: sm.deliveryOutcomes(),
	})

	// Outbound webhooks: the "webhooks" follower (issue 11); bots' pushes go
	// through it too.
	dispatcher := newWebhookDispatcher(a, cfg, registry, hooks, sm)

	// Each projector and process manager runs in one process at a time: the
	// one holding its advisory lock (adapters/election).
	// The routing process manager: the "routing" follower (issue 10).
	sessionRouter := routing.New(a.pool, a.store, registry, a.commands.NewRoutingManager(), a.tenancy, routing.Options{Logger: logger})
	follow := &followers{app: a, registry: registry, logger: logger, delivery: worker, webhooks: dispatcher, routing: sessionRouter,
		assist: newAssistant(a, cfg, registry), daily: statistics.New(a.pool, a.store, a.commands, statistics.Options{Logger: logger})}
	elector, err := election.New(cfg.DatabaseURL, election.Options{Interval: cfg.ElectionInterval, Logger: logger, OnChange: sm.roleChanges()})
	if err != nil {
		return err
	}
	if err := follow.register(elector); err != nil {
		return err
	}
	workers, stopWorkers := context.WithCancel(context.Background())
	electorDone := make(chan error, 1)
	go func() { electorDone <- elector.Run(workers) }()
	electorWaited := false
	defer func() {
		// An early return (a listen error) also stops the roles and waits
		// for them, so nothing runs or logs after serve has returned.
		if !electorWaited {
			stopWorkers()
			<-electorDone
		}
	}()

	// Realtime: this process follows the log itself and pushes to its own
	// WebSocket clients (issue 12).
	hub := realtime.New(a.store, realtime.Options{Logger: logger, Registry: registry, Presence: realtime.PresenceVia(a.commands),
		Peers:   realtime.PostgresPeers{Pool: a.pool},
		Metrics: sm.webSockets(), OriginPatterns: cfg.WSOrigins})
	hubCtx, stopHub := context.WithCancel(context.Background())
	hubDone := make(chan struct{})
	// Whatever way serve returns, the follower has stopped (and logged) first.
	defer func() { stopHub(); <-hubDone }()
	go func() {
		defer close(hubDone)
		if err := hub.Run(hubCtx); err != nil && hubCtx.Err() == nil {
			logger.Error("realtime follower stopped", "error", err)
		}
	}()

	// The web console (adapters/console) needs the console secret.
	var ui *console.Console
	var uiSessions httpapi.ConsoleSessions
	if len(cfg.JWTSecret) > 0 {
		ui = console.New(console.Deps{Pool: a.pool, Secret: cfg.JWTSecret, Logger: logger, SessionTTL: cfg.ConsoleSessionTTL})
		uiSessions = ui.Sessions()
	}
	router := httpapi.NewRouter(httpapi.Deps{
		Logger:                logger,
		Database:              poolPinger{a.pool},
		EventStore:            a.store,
		Tenancy:               a.tenancy,
		Commands:              a.commands,
		Reads:                 a.pool,
		Events:                a.store,
		Registry:              registry,
		Projections:           follow,
		Roles:                 elector,
		MaxBodyBytes:          cfg.MaxBodyBytes,
		RequestTimeout:        cfg.RequestTimeout,
		RateLimitRPS:          float64(cfg.RateLimitRPS),
		RateLimitBurst:        int(cfg.RateLimitBurst),
		AuthFailuresPerMinute: float64(cfg.AuthFailurePerMinute),
		AuthFailureBurst:      int(cfg.AuthFailureBurst),
		TrustedProxies:        cfg.TrustedProxies,
		AccessTokenTTL:        cfg.AccessTokenTTL,
		UnmergeWindow:         cfg.UnmergeWindow,
		Messages:              manager,
		Bots:                  bots,
		WebhookTolerance:      cfg.WebhookTolerance,
		WeComMaxAge:           cfg.WeComMaxAge,
		JWTSecret:             cfg.JWTSecret,
		Accounts:              a.accounts,
		Idempotency:           postgres.NewIdempotencyKeys(a.pool),
		Metrics:               sm.requests(),
		Webhooks:              hooks,
		Hub:                   hub,
		ConsoleSessions:       uiSessions,
	})
	if ui != nil {
		ui.Register(router)
	}
	srv := &http.Server{
		Handler:           router,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s (SOCIALOPS_HTTP_ADDR): %w", cfg.HTTPAddr, err)
	}
	if err := sm.listen(cfg, logger); err != nil {
		_ = ln.Close()
		return err
	}
	defer sm.close()
	logger.Info("serving", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	select {
	case err := <-errc:
		return err
	case err := <-sm.failed():
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down: finishing in-flight requests", "timeout", cfg.ShutdownTimeout.String())
	shutCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	// WebSockets are hijacked: Shutdown does not close them; the hub does,
	// with 1001 (going away) and the position to resume from.
	hub.Close(shutCtx)
	stopHub()
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	// Metrics stay scrapeable while requests drain, and stop with them.
	if err := sm.shutdown(shutCtx); err != nil {
		logger.Error("metrics server did not stop cleanly", "error", err)
	}
	// Every role's work stops (projectors between batches, so every
	// checkpoint stays consistent), then the locks are released at once.
	stopWorkers()
	electorWaited = true
	if err := <-electorDone; err != nil {
		logger.Error("followers stopped with an error", "error", err)
	}
	logger.Info("stopped")
	return nil
}

// weComCredentials reads an instance's WeCom app credentials for replies.
func weComCredentials(t *postgres.Tenancy) wecom.CredentialsFunc {
	return func(ctx context.Context, instanceID string) (wecom.Credentials, bool, error) {
		s, found, err := t.WeComSettings(ctx, instanceID)
		if err != nil || !found {
			return wecom.Credentials{}, found, err
		}
		return wecom.Credentials{CorpID: s.CorpID, AgentID: s.AgentID, Secret: s.Secret}, true, nil
	}
}

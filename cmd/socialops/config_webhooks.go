package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/socialops/socialops/adapters/webhooks"
	"github.com/socialops/socialops/domain"
)

// WebhookConfig is the outbound webhooks' configuration (issue 11).
type WebhookConfig struct {
	Schedule       []time.Duration // SOCIALOPS_WEBHOOK_RETRY_SCHEDULE
	Timeout        time.Duration   // SOCIALOPS_WEBHOOK_TIMEOUT (10 s)
	MessageTimeout time.Duration   // SOCIALOPS_WEBHOOK_MESSAGE_TIMEOUT (30 s, message.* events)
	DisableAfter   time.Duration   // SOCIALOPS_WEBHOOK_DISABLE_AFTER (120 h)
	AllowPrivate   bool            // SOCIALOPS_WEBHOOK_ALLOW_PRIVATE
	Concurrency    int64           // SOCIALOPS_WEBHOOK_ENDPOINT_CONCURRENCY (16)
	SecretOverlap  time.Duration   // SOCIALOPS_WEBHOOK_SECRET_OVERLAP (24 h)
	PollInterval   time.Duration   // SOCIALOPS_WEBHOOK_POLL_INTERVAL (1 s)
	LeaseSlack     time.Duration   // SOCIALOPS_WEBHOOK_LEASE_SLACK (10 s)
}

func webhookVars(getenv func(string) string, cfg *Config) error {
	w := &cfg.Webhooks
	w.Schedule = webhooks.DefaultSchedule
	if v := strings.TrimSpace(getenv("SOCIALOPS_WEBHOOK_RETRY_SCHEDULE")); v != "" {
		s, err := webhooks.ParseSchedule(v)
		if err != nil {
			return &ConfigError{"SOCIALOPS_WEBHOOK_RETRY_SCHEDULE", err.Error() + " (comma-separated durations, e.g. 5s,5m,30m,2h,5h,10h,10h)"}
		}
		w.Schedule = s
	}
	var err error
	if w.Timeout, err = durationVar(getenv, "SOCIALOPS_WEBHOOK_TIMEOUT", 10*time.Second); err != nil {
		return err
	}
	if w.MessageTimeout, err = durationVar(getenv, "SOCIALOPS_WEBHOOK_MESSAGE_TIMEOUT", 30*time.Second); err != nil {
		return err
	}
	if w.DisableAfter, err = durationVar(getenv, "SOCIALOPS_WEBHOOK_DISABLE_AFTER", 5*24*time.Hour); err != nil {
		return err
	}
	if w.SecretOverlap, err = durationVar(getenv, "SOCIALOPS_WEBHOOK_SECRET_OVERLAP", 24*time.Hour); err != nil {
		return err
	}
	if w.PollInterval, err = durationVar(getenv, "SOCIALOPS_WEBHOOK_POLL_INTERVAL", time.Second); err != nil {
		return err
	}
	if w.LeaseSlack, err = durationVar(getenv, "SOCIALOPS_WEBHOOK_LEASE_SLACK", 10*time.Second); err != nil {
		return err
	}
	if w.Concurrency, err = intVar(getenv, "SOCIALOPS_WEBHOOK_ENDPOINT_CONCURRENCY", 16, 1, 1024); err != nil {
		return err
	}
	switch v := strings.TrimSpace(getenv("SOCIALOPS_WEBHOOK_ALLOW_PRIVATE")); v {
	case "", "0", "false":
	case "1", "true":
		w.AllowPrivate = true
	default:
		return &ConfigError{"SOCIALOPS_WEBHOOK_ALLOW_PRIVATE", fmt.Sprintf("%q is not 1 or 0", v)}
	}
	return nil
}

// webhookStore is the subscription store of the API and the CLI.
func webhookStore(a *app, cfg Config) *webhooks.Store {
	return webhooks.NewStore(a.pool, webhooks.StoreOptions{EncryptionKey: cfg.EncryptionKey, Head: a.store.HeadPosition,
		AllowPrivate: cfg.Webhooks.AllowPrivate, SecretOverlap: cfg.Webhooks.SecretOverlap})
}

// newWebhookDispatcher is the "webhooks" follower; serve runs it (the lead
// may put its Run under leader election as role "webhooks": several
// processes running it at once stay correct, one is enough).
func newWebhookDispatcher(a *app, cfg Config, registry *domain.Registry, store *webhooks.Store, sm *serveMetrics) *webhooks.Dispatcher {
	w := cfg.Webhooks
	d := webhooks.NewDispatcher(a.pool, a.store, registry, store, webhooks.Options{
		Schedule: w.Schedule, Timeout: w.Timeout, MessageTimeout: w.MessageTimeout, DisableAfter: w.DisableAfter,
		AllowPrivate: w.AllowPrivate, EndpointConcurrency: int(w.Concurrency), PollInterval: w.PollInterval,
		LeaseSlack: w.LeaseSlack, OnAttempt: sm.webhookAttempts(),
	})
	store.Notify = d.Nudge
	return d
}

// webhookAttempts is webhooks.Options.OnAttempt.
func (s *serveMetrics) webhookAttempts() func(string) {
	if s == nil {
		return nil
	}
	return s.m.Webhooks.Attempt
}

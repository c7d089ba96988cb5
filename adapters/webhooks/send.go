package webhooks

// Sending: one round of due deliveries of one subscription, each attempt
// signed and bounded, and the attempts recorded with their outcomes.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/socialops/socialops/catalogue"
	"github.com/socialops/socialops/domain"
)

type claimed struct {
	id        string
	eventType string
	scheduled int
	manual    bool
	payload   []byte
}

type result struct {
	claimed
	at       time.Time
	status   int
	header   http.Header
	body     string
	duration time.Duration
	err      string
	ok       bool
}

// round claims up to EndpointConcurrency due deliveries of one
// subscription, sends them at once, and records the attempts.
func (d *Dispatcher) round(ctx context.Context, sub string) (int, error) {
	rows, _ := d.pool.Query(ctx, `UPDATE webhook_deliveries w SET lease_owner = $2,
			lease_until = now() + (CASE WHEN w.event_type LIKE 'message.%' THEN $3::bigint ELSE $4::bigint END) * interval '1 millisecond'
		FROM webhook_messages m
		WHERE w.delivery_id IN (
			SELECT delivery_id FROM webhook_deliveries
			WHERE subscription_id = $1 AND status IN ('pending', 'failed') AND next_attempt_at <= now()
			AND (lease_until IS NULL OR lease_until < now())
			ORDER BY next_attempt_at, created_at LIMIT $5 FOR UPDATE SKIP LOCKED)
		AND m.event_id = w.event_id
		AND EXISTS (SELECT 1 FROM webhook_subscriptions s WHERE s.subscription_id = $1 AND s.enabled)
		RETURNING w.delivery_id, w.event_type, w.scheduled_attempts, w.manual, m.payload`,
		sub, d.opts.Worker, (d.opts.MessageTimeout + d.opts.LeaseSlack).Milliseconds(), (d.opts.Timeout + d.opts.LeaseSlack).Milliseconds(),
		d.opts.EndpointConcurrency)
	batch, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (claimed, error) {
		var c claimed
		err := r.Scan(&c.id, &c.eventType, &c.scheduled, &c.manual, &c.payload)
		return c, err
	})
	if err != nil || len(batch) == 0 {
		return 0, err
	}
	ep, found, err := d.subs.endpoint(ctx, sub)
	if err != nil || !found {
		return 0, err
	}
	results := make([]result, len(batch))
	var wg sync.WaitGroup
	for i, c := range batch {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = d.attempt(ctx, ep, c)
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		// Shutting down: the leases lapse and another run attempts again, same webhook-id.
		return 0, ctx.Err()
	}
	return len(batch), d.record(ctx, sub, results)
}

// attempt makes one signed POST.
func (d *Dispatcher) attempt(ctx context.Context, ep endpoint, c claimed) result {
	timeout := d.opts.Timeout
	if catalogue.IsMessage(c.eventType) || c.eventType == BotEventPrefix+"message" {
		timeout = d.opts.MessageTimeout // seed 001: 30 s for a bot's message push, 10 s for the others
	}
	r := result{claimed: c, at: time.Now()}
	sig, err := Sign(ep.Secrets, c.id, r.at, c.payload)
	if err != nil {
		r.err = err.Error()
		return r
	}
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, ep.URL, bytes.NewReader(c.payload))
	if err != nil {
		r.err = "invalid request: " + err.Error()
		return r
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "SocialOps-Webhooks/1")
	req.Header.Set(HeaderID, c.id)
	req.Header.Set(HeaderTimestamp, fmt.Sprint(r.at.Unix()))
	req.Header.Set(HeaderSignature, sig)
	resp, err := d.client.Do(req)
	if err != nil {
		r.duration = time.Since(r.at)
		switch {
		case errors.Is(err, context.DeadlineExceeded) || errors.Is(actx.Err(), context.DeadlineExceeded):
			r.err = fmt.Sprintf("timeout: no answer within %s", timeout)
		default:
			r.err = describe(err)
		}
		return r
	}
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	r.duration = time.Since(r.at)
	r.status, r.header = resp.StatusCode, resp.Header
	r.body = cleanText(body)
	if rerr != nil && !errors.Is(rerr, io.EOF) {
		r.err = "reading the answer: " + describe(rerr)
	}
	r.ok = resp.StatusCode >= 200 && resp.StatusCode < 300 && r.err == ""
	if !r.ok && r.err == "" {
		r.err = fmt.Sprintf("HTTP %d", resp.StatusCode)
	}
	return r
}

// describe shortens a client error to what went wrong (no URL repeated).
func describe(err error) string {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			err = inner
		}
	}
	s := err.Error()
	if len(s) > 500 {
		s = s[:500]
	}
	return s
}

// cleanText is a response body as storable text: valid UTF-8, no NUL.
func cleanText(b []byte) string {
	return strings.ReplaceAll(strings.ToValidUTF8(string(b), "\uFFFD"), "\x00", "")
}

// record stores a round's attempts and the deliveries' new states, updates
// the subscription's failure window, and disables it when the window is over.
func (d *Dispatcher) record(ctx context.Context, sub string, results []result) error {
	now := time.Now()
	b := &pgx.Batch{}
	anyOK := false
	var firstFail time.Time
	outcomes := make([]string, len(results))
	for i, r := range results {
		trigger := "scheduled"
		if r.manual {
			trigger = "manual"
		}
		var code *int
		if r.status != 0 {
			code = &r.status
		}
		b.Queue(`INSERT INTO webhook_attempts (delivery_id, attempted_at, trigger, status_code, response_body, duration_ms, error, succeeded)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, r.id, r.at, trigger, code, r.body, float64(r.duration.Microseconds())/1000, r.err, r.ok)
		scheduled := r.scheduled
		if !r.manual || scheduled == 0 {
			scheduled++
		}
		status, next := StatusSucceeded, now
		switch {
		case r.ok:
			anyOK = true
			outcomes[i] = OutcomeDelivered
		case scheduled > len(d.opts.Schedule):
			status = StatusExhausted
			outcomes[i] = OutcomeFailed
		default:
			status = StatusFailed
			delay := jitter(d.opts.Schedule[scheduled-1])
			if ra, ok := retryAfter(r.status, r.header, now); ok {
				delay = max(delay, min(ra, d.opts.MaxRetryAfter))
			}
			next = now.Add(delay)
			outcomes[i] = OutcomeRetried
		}
		if !r.ok && (firstFail.IsZero() || r.at.Before(firstFail)) {
			firstFail = r.at
		}
		b.Queue(`UPDATE webhook_deliveries SET status = $3, attempts = attempts + 1, scheduled_attempts = $4, manual = false,
				next_attempt_at = $5, lease_owner = NULL, lease_until = NULL, updated_at = now()
			WHERE delivery_id = $1 AND lease_owner = $2`, r.id, d.opts.Worker, status, scheduled, next)
	}
	if anyOK {
		b.Queue(`UPDATE webhook_subscriptions SET failing_since = NULL WHERE subscription_id = $1 AND failing_since IS NOT NULL`, sub)
	} else {
		b.Queue(`UPDATE webhook_subscriptions SET failing_since = $2 WHERE subscription_id = $1 AND failing_since IS NULL`, sub, firstFail)
	}
	tx, err := d.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	var instanceID string
	var failingSince time.Time
	disabled := false
	if !anyOK {
		err := tx.QueryRow(ctx, `UPDATE webhook_subscriptions SET enabled = false, disabled_reason = 'failing', updated_at = now()
			WHERE subscription_id = $1 AND enabled AND failing_since IS NOT NULL AND failing_since <= now() - $2::bigint * interval '1 millisecond'
			RETURNING instance_id, failing_since`, sub, d.opts.DisableAfter.Milliseconds()).Scan(&instanceID, &failingSince)
		switch {
		case err == nil:
			disabled = true
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
	}
	if disabled {
		// The event before the commit: a crash in between leaves it appended
		// (its id is derived from the subscription and failing_since, so the
		// next failing round appends it again as a no-op), never lost.
		if err := d.announceDisabled(ctx, sub, instanceID, failingSince); err != nil {
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	if d.opts.OnAttempt != nil {
		for _, o := range outcomes {
			d.opts.OnAttempt(o)
		}
	}
	if disabled {
		d.logger.Warn("webhook subscription disabled: it failed continuously", "subscription_id", sub,
			"failing_since", failingSince.UTC().Format(time.RFC3339), "window", d.opts.DisableAfter.String())
		if d.opts.OnDisabled != nil {
			d.opts.OnDisabled(sub)
		}
	}
	return nil
}

// announceDisabled appends WebhookSubscriptionDisabled, which the catalogue
// publishes as subscription.disabled to the instance's other subscriptions.
func (d *Dispatcher) announceDisabled(ctx context.Context, sub, instanceID string, since time.Time) error {
	ev, err := d.registry.Encode(domain.WebhookSubscriptionDisabled{SubscriptionID: sub, InstanceID: instanceID, Reason: "failing",
		FailingSince: since.UTC().Format(time.RFC3339)}, domain.Metadata{
		EventID:    domain.EventUUID("webhook-subscription-disabled", sub, since.UTC().Format(time.RFC3339Nano)),
		Actor:      domain.Actor{Kind: domain.ActorSystem, ID: "webhooks:" + d.opts.Worker},
		OccurredAt: time.Now().UTC(),
	})
	if err == nil {
		_, err = d.events.Append(ctx, domain.WebhookSubscriptionStream(sub), domain.AnyRevision(), ev)
	}
	if err != nil {
		return fmt.Errorf("record subscription.disabled of %s: %w", sub, err)
	}
	return nil
}

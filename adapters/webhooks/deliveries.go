package webhooks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/socialops/socialops/catalogue"
	"github.com/socialops/socialops/domain"
)

// Delivery statuses.
const (
	StatusPending   = "pending"   // not attempted yet, or a resend is due
	StatusSucceeded = "succeeded" // an attempt got a 2xx
	StatusFailed    = "failed"    // the last attempt failed; another is scheduled
	StatusExhausted = "exhausted" // every scheduled attempt failed
)

// Statuses lists the delivery statuses.
var Statuses = []string{StatusPending, StatusSucceeded, StatusFailed, StatusExhausted}

// MaxResponseBody is how much of an answer an attempt records.
const MaxResponseBody = 4 << 10

// DeliveryID is the webhook-id of an event's delivery to a subscription:
// the same whoever computes it and however often, so a replayed log or a
// crashed process never makes a second delivery of one event to one endpoint.
func DeliveryID(subscriptionID, eventID string) string {
	sum := sha256.Sum256([]byte(subscriptionID + "\x00" + eventID))
	return "msg_" + hex.EncodeToString(sum[:16])
}

// Delivery is one event's delivery to one subscription, with its attempts.
type Delivery struct {
	ID             string
	SubscriptionID string
	EventID        string
	Event          string
	Status         string
	AttemptCount   int
	NextAttemptAt  *time.Time // while pending or failed
	CreatedAt      time.Time
	UpdatedAt      time.Time
	Attempts       []Attempt
}

// Attempt is one recorded HTTP attempt.
type Attempt struct {
	At           time.Time
	Trigger      string // scheduled or manual
	StatusCode   *int
	ResponseBody string
	DurationMS   float64
	Error        string
	Succeeded    bool
}

// ListFilter pages a subscription's deliveries, newest first.
type ListFilter struct {
	Status string // "" for any
	Page   int    // from 1
	Limit  int    // 1..100
}

// Deliveries lists a subscription's deliveries with their attempts, and the total.
func (s *Store) Deliveries(ctx context.Context, instanceID, subscriptionID string, f ListFilter) ([]Delivery, int, error) {
	if _, err := s.Get(ctx, instanceID, subscriptionID); err != nil {
		return nil, 0, err
	}
	if f.Status != "" && !contains(Statuses, f.Status) {
		return nil, 0, domain.Errorf(domain.ErrInvalidField, "status must be one of pending, succeeded, failed, exhausted")
	}
	if f.Page < 1 {
		f.Page = 1
	}
	if f.Limit < 1 || f.Limit > 100 {
		f.Limit = 50
	}
	var total int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM webhook_deliveries WHERE subscription_id = $1 AND ($2 = '' OR status = $2)`,
		subscriptionID, f.Status).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("list webhook deliveries: %w", err)
	}
	rows, err := s.pool.Query(ctx, `SELECT delivery_id, subscription_id, event_id, event_type, status, attempts,
			CASE WHEN status IN ('pending', 'failed') THEN next_attempt_at END, created_at, updated_at
		FROM webhook_deliveries WHERE subscription_id = $1 AND ($2 = '' OR status = $2)
		ORDER BY created_at DESC, delivery_id DESC LIMIT $3 OFFSET $4`,
		subscriptionID, f.Status, f.Limit, (f.Page-1)*f.Limit)
	if err != nil {
		return nil, 0, fmt.Errorf("list webhook deliveries: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Delivery, error) {
		var d Delivery
		err := r.Scan(&d.ID, &d.SubscriptionID, &d.EventID, &d.Event, &d.Status, &d.AttemptCount, &d.NextAttemptAt, &d.CreatedAt, &d.UpdatedAt)
		d.Attempts = []Attempt{}
		return d, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list webhook deliveries: %w", err)
	}
	if len(out) == 0 {
		return out, total, nil
	}
	ids := make([]string, len(out))
	index := map[string]int{}
	for i, d := range out {
		ids[i] = d.ID
		index[d.ID] = i
	}
	arows, err := s.pool.Query(ctx, `SELECT delivery_id, attempted_at, trigger, status_code, response_body, duration_ms, error, succeeded
		FROM webhook_attempts WHERE delivery_id = ANY($1) ORDER BY attempt_id`, ids)
	if err != nil {
		return nil, 0, fmt.Errorf("list webhook attempts: %w", err)
	}
	defer arows.Close()
	for arows.Next() {
		var id string
		var a Attempt
		if err := arows.Scan(&id, &a.At, &a.Trigger, &a.StatusCode, &a.ResponseBody, &a.DurationMS, &a.Error, &a.Succeeded); err != nil {
			return nil, 0, fmt.Errorf("list webhook attempts: %w", err)
		}
		i := index[id]
		out[i].Attempts = append(out[i].Attempts, a)
	}
	if err := arows.Err(); err != nil {
		return nil, 0, fmt.Errorf("list webhook attempts: %w", err)
	}
	return out, total, nil
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// Resend makes one delivery due now, whatever its status, as a manual
// attempt with the same webhook-id and body.
func (s *Store) Resend(ctx context.Context, instanceID, subscriptionID, deliveryID string) (Delivery, error) {
	if _, err := s.Get(ctx, instanceID, subscriptionID); err != nil {
		return Delivery{}, err
	}
	var d Delivery
	err := s.pool.QueryRow(ctx, `UPDATE webhook_deliveries SET status = CASE WHEN status = 'succeeded' OR status = 'exhausted' THEN 'pending' ELSE status END,
			manual = true, next_attempt_at = now(), updated_at = now()
		WHERE delivery_id = $1 AND subscription_id = $2
		RETURNING delivery_id, subscription_id, event_id, event_type, status, attempts, next_attempt_at, created_at, updated_at`,
		deliveryID, subscriptionID).Scan(&d.ID, &d.SubscriptionID, &d.EventID, &d.Event, &d.Status, &d.AttemptCount, &d.NextAttemptAt, &d.CreatedAt, &d.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Delivery{}, domain.Errorf(ErrDeliveryNotFound, "no delivery %q of webhook subscription %q", deliveryID, subscriptionID)
	}
	if err != nil {
		return Delivery{}, fmt.Errorf("resend webhook delivery: %w", err)
	}
	d.Attempts = []Attempt{}
	s.notify()
	return d, nil
}

// Recover makes every failed or exhausted delivery of a subscription created
// at or after since due now (manual attempts); it returns how many.
func (s *Store) Recover(ctx context.Context, instanceID, subscriptionID string, since time.Time) (int, error) {
	if _, err := s.Get(ctx, instanceID, subscriptionID); err != nil {
		return 0, err
	}
	tag, err := s.pool.Exec(ctx, `UPDATE webhook_deliveries SET status = 'pending', manual = true, next_attempt_at = now(), updated_at = now()
		WHERE subscription_id = $1 AND status IN ('failed', 'exhausted') AND created_at >= $2`, subscriptionID, since)
	if err != nil {
		return 0, fmt.Errorf("recover webhook deliveries: %w", err)
	}
	if tag.RowsAffected() > 0 {
		s.notify()
	}
	return int(tag.RowsAffected()), nil
}

// SendTest queues a webhook.test event to one subscription, whatever its
// event filter, and returns its delivery.
func (s *Store) SendTest(ctx context.Context, instanceID, subscriptionID string) (Delivery, error) {
	if _, err := s.Get(ctx, instanceID, subscriptionID); err != nil {
		return Delivery{}, err
	}
	now := s.now()
	ev := catalogue.Event{Event: catalogue.WebhookTest, Timestamp: now.Unix(), ID: domain.RandomID("evt_test_", s.random),
		Data: catalogue.TestData{SubscriptionID: subscriptionID, Message: "This is a test event from SocialOps."}}
	body, err := catalogue.Encode(ev)
	if err != nil {
		return Delivery{}, err
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return Delivery{}, fmt.Errorf("send test event: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `INSERT INTO webhook_messages (event_id, instance_id, event_type, position, payload) VALUES ($1, $2, $3, 0, $4)`,
		ev.ID, instanceID, ev.Event, body); err != nil {
		return Delivery{}, fmt.Errorf("send test event: %w", err)
	}
	d := Delivery{ID: DeliveryID(subscriptionID, ev.ID), SubscriptionID: subscriptionID, EventID: ev.ID, Event: ev.Event, Status: StatusPending, Attempts: []Attempt{}}
	if err := tx.QueryRow(ctx, `INSERT INTO webhook_deliveries (delivery_id, subscription_id, event_id, event_type, manual)
		VALUES ($1, $2, $3, $4, true) RETURNING next_attempt_at, created_at, updated_at`,
		d.ID, subscriptionID, ev.ID, ev.Event).Scan(&d.NextAttemptAt, &d.CreatedAt, &d.UpdatedAt); err != nil {
		return Delivery{}, fmt.Errorf("send test event: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return Delivery{}, fmt.Errorf("send test event: %w", err)
	}
	s.notify()
	return d, nil
}

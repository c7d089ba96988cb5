// Package webhooks delivers SocialOps' public events (package catalogue) to
// the HTTP endpoints an instance subscribed, Svix-style: subscriptions are
// configuration rows with an encrypted signing secret; a follower of the
// event log (the Dispatcher) writes one delivery row per (event,
// subscription) in the same transaction as its checkpoint; per-endpoint
// workers claim due deliveries with a lease, sign them per the Standard
// Webhooks specification, POST them, and record every attempt.
package webhooks

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/socialops/socialops/adapters/postgres"
	"github.com/socialops/socialops/catalogue"
	"github.com/socialops/socialops/domain"
)

// Errors answered to clients.
var (
	ErrSubscriptionNotFound = &domain.Error{Code: "webhook_not_found", Message: "no such webhook subscription"}
	ErrDeliveryNotFound     = &domain.Error{Code: "webhook_delivery_not_found", Message: "no such delivery of this webhook subscription"}
	ErrURLNotAllowed        = &domain.Error{Code: "webhook_url_not_allowed", Message: "the url points to a loopback, private or otherwise internal address"}
)

// Limits of a subscription's fields.
const (
	MaxURLLength         = 2048
	MaxDescriptionLength = 512
	SecretPrefix         = "whsec_"
	secretBytes          = 32
	// DefaultSecretOverlap is how long the previous secret keeps signing after a rotation.
	DefaultSecretOverlap = 24 * time.Hour
)

// Subscription is a webhook subscription, without its secrets.
type Subscription struct {
	ID             string
	InstanceID     string
	URL            string
	Events         []string // empty: every event
	Description    string
	Enabled        bool
	DisabledReason string
	FailingSince   *time.Time
	// PreviousSecretUntil is when the secret replaced by the last rotation stops signing (nil: none).
	PreviousSecretUntil *time.Time
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

// Input is what a client sends to create a subscription.
type Input struct {
	URL         *string
	Events      *[]string
	Description *string
	Enabled     *bool
}

// Store manages subscriptions and their deliveries for the API and the CLI.
type Store struct {
	pool         *pgxpool.Pool
	sealer       postgres.Sealer
	random       io.Reader
	head         func(context.Context) (uint64, error)
	allowPrivate bool
	overlap      time.Duration
	now          func() time.Time
	// Notify, when set, is called after a change that makes deliveries due
	// (a test event, a resend, a recovery, re-enabling): the dispatcher's Nudge.
	Notify func()
}

// StoreOptions tune a Store.
type StoreOptions struct {
	// EncryptionKey is SOCIALOPS_ENCRYPTION_KEY (32 bytes).
	EncryptionKey []byte
	// Head is the event log's head position: a subscription receives the
	// events committed after it was created.
	Head func(context.Context) (uint64, error)
	// AllowPrivate accepts loopback and private addresses (SOCIALOPS_WEBHOOK_ALLOW_PRIVATE).
	AllowPrivate bool
	// SecretOverlap is how long a rotated-out secret keeps signing (default 24 h).
	SecretOverlap time.Duration
	Random        io.Reader
	Now           func() time.Time
}

// NewStore returns the subscription store.
func NewStore(pool *pgxpool.Pool, opts StoreOptions) *Store {
	if opts.Random == nil {
		opts.Random = domain.CryptoRandom
	}
	if opts.SecretOverlap <= 0 {
		opts.SecretOverlap = DefaultSecretOverlap
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Store{pool: pool, sealer: postgres.NewSealer(opts.EncryptionKey, opts.Random), random: opts.Random,
		head: opts.Head, allowPrivate: opts.AllowPrivate, overlap: opts.SecretOverlap, now: opts.Now}
}

func (s *Store) notify() {
	if s.Notify != nil {
		s.Notify()
	}
}

func secretAD(subscriptionID string) []byte { return []byte("webhook-subscription:" + subscriptionID) }

func (s *Store) newSecret() (string, error) {
	b := make([]byte, secretBytes)
	if _, err := io.ReadFull(s.random, b); err != nil {
		return "", fmt.Errorf("webhook secret: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// ValidateURL checks a subscription URL: absolute http or https, a host, no
// fragment, and (unless allowPrivate) not a loopback, private, link-local or
// unspecified address nor localhost. Names are checked again against the
// addresses they resolve to when a delivery connects.
func ValidateURL(raw string, allowPrivate bool) error {
	if strings.TrimSpace(raw) == "" {
		return domain.Errorf(domain.ErrMissingField, "url is required")
	}
	if len(raw) > MaxURLLength {
		return domain.Errorf(domain.ErrInvalidField, "url is longer than %d characters", MaxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return domain.Errorf(domain.ErrInvalidField, "url is not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return domain.Errorf(domain.ErrInvalidField, "url must be an absolute http or https URL")
	}
	if u.Hostname() == "" {
		return domain.Errorf(domain.ErrInvalidField, "url has no host")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return domain.Errorf(domain.ErrInvalidField, "url must not have a fragment")
	}
	if u.User != nil {
		return domain.Errorf(domain.ErrInvalidField, "url must not carry credentials (user:password@)")
	}
	if p := u.Port(); p != "" {
		var n int
		if _, err := fmt.Sscanf(p, "%d", &n); err != nil || n < 1 || n > 65535 {
			return domain.Errorf(domain.ErrInvalidField, "url has an invalid port")
		}
	}
	if allowPrivate {
		return nil
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") || host == "metadata.google.internal" {
		return domain.Errorf(ErrURLNotAllowed, "url: %s is a local host name", host)
	}
	if ip := net.ParseIP(host); ip != nil && !publicIP(ip) {
		return domain.Errorf(ErrURLNotAllowed, "url: %s is not a public address", host)
	}
	return nil
}

// publicIP tells whether ip may be delivered to without SOCIALOPS_WEBHOOK_ALLOW_PRIVATE.
func publicIP(ip net.IP) bool {
	if ip4 := ip.To4(); ip4 != nil {
		ip = ip4
		// 100.64.0.0/10 (carrier-grade NAT) and 0.0.0.0/8.
		if ip[0] == 0 || (ip[0] == 100 && ip[1]&0xC0 == 64) {
			return false
		}
	}
	return !(ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified())
}

// ValidateEvents checks event names against the catalogue and removes repeats.
func ValidateEvents(events []string) ([]string, error) {
	out := make([]string, 0, len(events))
	seen := map[string]bool{}
	for i, e := range events {
		if !catalogue.Known(e) {
			return nil, domain.Errorf(domain.ErrInvalidField, "events[%d]: %q is not an event type (known: %s)", i, e, strings.Join(catalogue.Names(), ", "))
		}
		if !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	return out, nil
}

func validateDescription(d string) error {
	if !utf8.ValidString(d) {
		return domain.Errorf(domain.ErrInvalidField, "description is not valid UTF-8")
	}
	if utf8.RuneCountInString(d) > MaxDescriptionLength {
		return domain.Errorf(domain.ErrInvalidField, "description is longer than %d characters", MaxDescriptionLength)
	}
	for _, r := range d {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return domain.Errorf(domain.ErrInvalidField, "description holds a control character")
		}
	}
	return nil
}

// Create stores a subscription of an instance and returns it with its
// secret, which is never shown again.
func (s *Store) Create(ctx context.Context, instanceID string, in Input) (Subscription, string, error) {
	if in.URL == nil {
		return Subscription{}, "", domain.Errorf(domain.ErrMissingField, "url is required")
	}
	if err := ValidateURL(*in.URL, s.allowPrivate); err != nil {
		return Subscription{}, "", err
	}
	var events []string
	if in.Events != nil {
		var err error
		if events, err = ValidateEvents(*in.Events); err != nil {
			return Subscription{}, "", err
		}
	} else {
		events = []string{}
	}
	desc := ""
	if in.Description != nil {
		desc = *in.Description
		if err := validateDescription(desc); err != nil {
			return Subscription{}, "", err
		}
	}
	enabled := true
	if in.Enabled != nil {
		enabled = *in.Enabled
	}
	if err := s.sealer.Usable(); err != nil {
		return Subscription{}, "", fmt.Errorf("create webhook subscription: %w", err)
	}
	var start uint64
	if s.head != nil {
		h, err := s.head(ctx)
		if err != nil {
			return Subscription{}, "", fmt.Errorf("create webhook subscription: %w", err)
		}
		start = h
	}
	secret, err := s.newSecret()
	if err != nil {
		return Subscription{}, "", err
	}
	id := domain.RandomID("whsub_", s.random)
	ct, nonce, err := s.sealer.Seal([]byte(secret), secretAD(id))
	if err != nil {
		return Subscription{}, "", fmt.Errorf("create webhook subscription: %w", err)
	}
	sub, err := scanSubscription(s.pool.QueryRow(ctx, `INSERT INTO webhook_subscriptions
		(subscription_id, instance_id, url, events, description, enabled, start_position, secret_ciphertext, secret_nonce)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING `+subscriptionColumns,
		id, instanceID, *in.URL, events, desc, enabled, int64(start), ct, nonce))
	if err != nil {
		return Subscription{}, "", fmt.Errorf("create webhook subscription: %w", err)
	}
	return sub, secret, nil
}

const subscriptionColumns = `subscription_id, instance_id, url, events, description, enabled, disabled_reason,
	failing_since, CASE WHEN previous_expires_at > now() THEN previous_expires_at END, created_at, updated_at`

func scanSubscription(row pgx.Row) (Subscription, error) {
	var s Subscription
	err := row.Scan(&s.ID, &s.InstanceID, &s.URL, &s.Events, &s.Description, &s.Enabled, &s.DisabledReason,
		&s.FailingSince, &s.PreviousSecretUntil, &s.CreatedAt, &s.UpdatedAt)
	if s.Events == nil {
		s.Events = []string{}
	}
	return s, err
}

// List returns an instance's subscriptions, oldest first.
func (s *Store) List(ctx context.Context, instanceID string) ([]Subscription, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+subscriptionColumns+` FROM webhook_subscriptions
		WHERE instance_id = $1 AND bot_id IS NULL ORDER BY created_at, subscription_id`, instanceID)
	if err != nil {
		return nil, fmt.Errorf("list webhook subscriptions: %w", err)
	}
	subs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Subscription, error) { return scanSubscription(r) })
	if err != nil {
		return nil, fmt.Errorf("list webhook subscriptions: %w", err)
	}
	return subs, nil
}

// Get returns one subscription of an instance.
func (s *Store) Get(ctx context.Context, instanceID, id string) (Subscription, error) {
	sub, err := scanSubscription(s.pool.QueryRow(ctx, `SELECT `+subscriptionColumns+` FROM webhook_subscriptions
		WHERE subscription_id = $1 AND instance_id = $2 AND bot_id IS NULL`, id, instanceID))
	if errors.Is(err, pgx.ErrNoRows) {
		return Subscription{}, domain.Errorf(ErrSubscriptionNotFound, "no webhook subscription %q", id)
	}
	if err != nil {
		return Subscription{}, fmt.Errorf("get webhook subscription: %w", err)
	}
	return sub, nil
}

// Update changes the fields given. Enabling a disabled subscription clears
// its failure record and makes its held deliveries due now: it resumes from
// where it stopped.
func (s *Store) Update(ctx context.Context, instanceID, id string, in Input) (Subscription, error) {
	if in.URL == nil && in.Events == nil && in.Description == nil && in.Enabled == nil {
		return Subscription{}, domain.Errorf(domain.ErrMissingField, "send at least one of url, events, description, enabled")
	}
	if in.URL != nil {
		if err := ValidateURL(*in.URL, s.allowPrivate); err != nil {
			return Subscription{}, err
		}
	}
	var events []string
	if in.Events != nil {
		var err error
		if events, err = ValidateEvents(*in.Events); err != nil {
			return Subscription{}, err
		}
	}
	if in.Description != nil {
		if err := validateDescription(*in.Description); err != nil {
			return Subscription{}, err
		}
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return Subscription{}, fmt.Errorf("update webhook subscription: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	var wasEnabled bool
	err = tx.QueryRow(ctx, `SELECT enabled FROM webhook_subscriptions WHERE subscription_id = $1 AND instance_id = $2 AND bot_id IS NULL FOR UPDATE`,
		id, instanceID).Scan(&wasEnabled)
	if errors.Is(err, pgx.ErrNoRows) {
		return Subscription{}, domain.Errorf(ErrSubscriptionNotFound, "no webhook subscription %q", id)
	}
	if err != nil {
		return Subscription{}, fmt.Errorf("update webhook subscription: %w", err)
	}
	sub, err := scanSubscription(tx.QueryRow(ctx, `UPDATE webhook_subscriptions SET
			url = COALESCE($3, url),
			events = COALESCE($4, events),
			description = COALESCE($5, description),
			enabled = COALESCE($6, enabled),
			disabled_reason = CASE WHEN COALESCE($6, enabled) THEN '' WHEN $6 IS NOT NULL AND NOT $6 AND enabled THEN 'manual' ELSE disabled_reason END,
			failing_since = CASE WHEN $6 AND NOT enabled THEN NULL ELSE failing_since END,
			updated_at = now()
		WHERE subscription_id = $1 AND instance_id = $2 RETURNING `+subscriptionColumns,
		id, instanceID, in.URL, events, in.Description, in.Enabled))
	if err != nil {
		return Subscription{}, fmt.Errorf("update webhook subscription: %w", err)
	}
	resumed := !wasEnabled && sub.Enabled
	if resumed {
		if _, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET next_attempt_at = now(), updated_at = now()
			WHERE subscription_id = $1 AND status IN ('pending', 'failed') AND next_attempt_at > now()`, id); err != nil {
			return Subscription{}, fmt.Errorf("update webhook subscription: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return Subscription{}, fmt.Errorf("update webhook subscription: %w", err)
	}
	if resumed {
		s.notify()
	}
	return sub, nil
}

// Delete removes a subscription with its deliveries and attempts.
func (s *Store) Delete(ctx context.Context, instanceID, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM webhook_subscriptions WHERE subscription_id = $1 AND instance_id = $2 AND bot_id IS NULL`, id, instanceID)
	if err != nil {
		return fmt.Errorf("delete webhook subscription: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return domain.Errorf(ErrSubscriptionNotFound, "no webhook subscription %q", id)
	}
	return nil
}

// Rotate makes a new secret and returns it (shown once); the previous one
// keeps signing, alongside it, for the overlap.
func (s *Store) Rotate(ctx context.Context, instanceID, id string) (Subscription, string, error) {
	if err := s.sealer.Usable(); err != nil {
		return Subscription{}, "", fmt.Errorf("rotate webhook secret: %w", err)
	}
	secret, err := s.newSecret()
	if err != nil {
		return Subscription{}, "", err
	}
	ct, nonce, err := s.sealer.Seal([]byte(secret), secretAD(id))
	if err != nil {
		return Subscription{}, "", fmt.Errorf("rotate webhook secret: %w", err)
	}
	sub, err := scanSubscription(s.pool.QueryRow(ctx, `UPDATE webhook_subscriptions SET
			previous_ciphertext = secret_ciphertext, previous_nonce = secret_nonce,
			previous_expires_at = now() + $5::bigint * interval '1 millisecond',
			secret_ciphertext = $3, secret_nonce = $4, updated_at = now()
		WHERE subscription_id = $1 AND instance_id = $2 AND bot_id IS NULL RETURNING `+subscriptionColumns,
		id, instanceID, ct, nonce, s.overlap.Milliseconds()))
	if errors.Is(err, pgx.ErrNoRows) {
		return Subscription{}, "", domain.Errorf(ErrSubscriptionNotFound, "no webhook subscription %q", id)
	}
	if err != nil {
		return Subscription{}, "", fmt.Errorf("rotate webhook secret: %w", err)
	}
	return sub, secret, nil
}

// endpoint is what a worker needs to deliver to a subscription.
type endpoint struct {
	URL     string
	Secrets []string // current first
	Enabled bool
}

// endpoint reads a subscription's URL and active secrets (decrypted).
func (s *Store) endpoint(ctx context.Context, id string) (endpoint, bool, error) {
	var ep endpoint
	var ct, nonce, pct, pnonce []byte
	var prevActive bool
	err := s.pool.QueryRow(ctx, `SELECT url, enabled, secret_ciphertext, secret_nonce, previous_ciphertext, previous_nonce,
			COALESCE(previous_expires_at > now(), false)
		FROM webhook_subscriptions WHERE subscription_id = $1`, id).Scan(&ep.URL, &ep.Enabled, &ct, &nonce, &pct, &pnonce, &prevActive)
	if errors.Is(err, pgx.ErrNoRows) {
		return endpoint{}, false, nil
	}
	if err != nil {
		return endpoint{}, false, fmt.Errorf("read webhook subscription: %w", err)
	}
	cur, err := s.sealer.Open(ct, nonce, secretAD(id))
	if err != nil {
		return endpoint{}, false, fmt.Errorf("webhook subscription %s: %w", id, err)
	}
	ep.Secrets = []string{string(cur)}
	if prevActive && pct != nil {
		prev, err := s.sealer.Open(pct, pnonce, secretAD(id))
		if err != nil {
			return endpoint{}, false, fmt.Errorf("webhook subscription %s: %w", id, err)
		}
		ep.Secrets = append(ep.Secrets, string(prev))
	}
	return ep, true, nil
}

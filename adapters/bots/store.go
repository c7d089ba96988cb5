// Package bots keeps the bots of an instance (seed 001): a name, a token the
// bot calls the send API with (only its hash stored; shown once, rotatable),
// the URL its events are pushed to, the events it wants, its mode (first:
// it answers new sessions before people; observer: it only listens) and the
// secret its pushes are signed with (Standard Webhooks).
package bots

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/socialops/socialops/adapters/webhooks"
	"github.com/socialops/socialops/domain"
)

// Modes and events of a bot.
const (
	ModeFirst    = "first"
	ModeObserver = "observer"

	EventMessage     = "message"
	EventDialogOpen  = "dialog_open"
	EventMemberJoin  = "member_join"
	EventMemberLeave = "member_leave"

	KindWebhook = "webhook"
	KindModel   = "model"

	// Limits of a model bot's instructions.
	MaxPromptRunes = 8_000
	MaxFAQRunes    = 32_000

	// TokenPrefix starts every bot token.
	TokenPrefix = "sbt_"
	// IDPrefix starts every bot id.
	IDPrefix = "sobot_"
)

// Events lists the events a bot may ask for.
var Events = []string{EventMessage, EventDialogOpen, EventMemberJoin, EventMemberLeave}

// Errors of bots.
var (
	ErrBotNotFound  = &domain.Error{Code: "bot_not_found", Message: "no such bot"}
	ErrBotNameTaken = &domain.Error{Code: "bot_name_taken", Message: "a bot with this name exists in the instance"}
	ErrBadBotToken  = &domain.Error{Code: "invalid_bot_token", Message: "the bot token is not valid"}
)

// Bot is a stored bot, without its token or secret.
type Bot struct {
	ID           string   `json:"id"`
	InstanceID   string   `json:"-"`
	Name         string   `json:"name"`
	WebhookURL   string   `json:"webhook_url"`
	Events       []string `json:"events"`
	Mode         string   `json:"mode"`
	IncludeToken bool     `json:"include_token"`
	// HandoffKeywords are what a customer writes to ask for a person;
	// AnswerTimeout how long the bot may stay silent after a customer's
	// message before the session goes to people (first mode).
	HandoffKeywords []string `json:"handoff_keywords"`
	AnswerTimeout   int      `json:"answer_timeout_seconds"`
	// Kind webhook is a bot behind WebhookURL; kind model the built-in bot
	// answering with the configured model, its SystemPrompt and FAQ, handing
	// off after MaxTurns answers.
	Kind         string    `json:"kind"`
	SystemPrompt string    `json:"system_prompt"`
	FAQ          string    `json:"faq"`
	Model        string    `json:"model"`
	MaxTurns     int       `json:"max_turns"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// Settings are what a bot is created with, or changed to (nil: unchanged).
type Settings struct {
	Name            *string
	WebhookURL      *string
	Events          []string
	Mode            *string
	IncludeToken    *bool
	HandoffKeywords []string
	AnswerTimeout   *int
	Kind            *string
	SystemPrompt    *string
	FAQ             *string
	Model           *string
	MaxTurns        *int
}

// Store keeps bots in Postgres.
type Store struct {
	mu           sync.Mutex
	first        map[string]firstEntry // instance → its first-mode bot, for a while
	pool         *pgxpool.Pool
	hooks        *webhooks.Store // each bot's pushes go through a subscription of its own
	random       io.Reader
	allowPrivate bool
}

// NewStore returns the store; hooks keeps the bots' push subscriptions (and
// encrypts their tokens with SOCIALOPS_ENCRYPTION_KEY), allowPrivate admits
// loopback and private webhook URLs (as for webhooks).
func NewStore(pool *pgxpool.Pool, hooks *webhooks.Store, allowPrivate bool) *Store {
	return &Store{first: map[string]firstEntry{}, pool: pool, hooks: hooks, random: domain.CryptoRandom, allowPrivate: allowPrivate}
}

func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

func (s *Store) newToken() string {
	return TokenPrefix + domain.RandomID("", s.random) + domain.RandomID("", s.random)
}

// validate checks the settings of a new bot (full) or a change.
func (s *Store) validate(st *Settings, full bool) error {
	if st.Name != nil || full {
		if st.Name == nil {
			return domain.Errorf(domain.ErrMissingField, "name is required")
		}
		name, err := domain.CleanLine("name", *st.Name, 100)
		if err != nil {
			return err
		}
		if name == "" {
			return domain.Errorf(domain.ErrMissingField, "name is required")
		}
		st.Name = &name
	}
	if full && st.Kind == nil {
		k := KindWebhook
		st.Kind = &k
	}
	if st.Kind != nil && *st.Kind != KindWebhook && *st.Kind != KindModel {
		return domain.Errorf(domain.ErrInvalidField, "kind is webhook or model")
	}
	if full && *st.Kind == KindModel && st.WebhookURL == nil {
		empty := ""
		st.WebhookURL = &empty
	}
	if st.WebhookURL != nil || full {
		if st.WebhookURL == nil {
			return domain.Errorf(domain.ErrMissingField, "webhook_url is required")
		}
		if *st.WebhookURL != "" || st.Kind == nil || *st.Kind != KindModel {
			if err := webhooks.ValidateURL(*st.WebhookURL, s.allowPrivate); err != nil {
				return err
			}
		}
	}
	for _, f := range []struct {
		name  string
		value *string
		max   int
	}{{"system_prompt", st.SystemPrompt, MaxPromptRunes}, {"faq", st.FAQ, MaxFAQRunes}, {"model", st.Model, 200}} {
		if f.value != nil {
			v, err := domain.CleanText(f.name, *f.value, f.max)
			if err != nil && *f.value != "" {
				return err
			}
			if err == nil {
				*f.value = v
			}
		}
	}
	if st.MaxTurns != nil && (*st.MaxTurns < 1 || *st.MaxTurns > 100) {
		return domain.Errorf(domain.ErrInvalidField, "max_turns is from 1 to 100")
	}
	if st.Events != nil || full {
		if len(st.Events) == 0 {
			st.Events = []string{EventMessage, EventDialogOpen}
		}
		var clean []string
		for _, e := range st.Events {
			e = strings.TrimSpace(e)
			if !slices.Contains(Events, e) {
				return domain.Errorf(domain.ErrInvalidField, "unknown bot event %q (known: %s)", e, strings.Join(Events, ", "))
			}
			if !slices.Contains(clean, e) {
				clean = append(clean, e)
			}
		}
		st.Events = clean
	}
	if st.Mode != nil || full {
		if st.Mode == nil {
			m := ModeFirst
			st.Mode = &m
		}
		if *st.Mode != ModeFirst && *st.Mode != ModeObserver {
			return domain.Errorf(domain.ErrInvalidField, "mode is first or observer")
		}
	}
	if st.HandoffKeywords != nil {
		if len(st.HandoffKeywords) > 20 {
			return domain.Errorf(domain.ErrInvalidField, "at most 20 hand-off keywords")
		}
		for i, k := range st.HandoffKeywords {
			k, err := domain.CleanLine("handoff_keywords", k, 50)
			if err != nil {
				return err
			}
			if k == "" {
				return domain.Errorf(domain.ErrInvalidField, "a hand-off keyword is not empty")
			}
			st.HandoffKeywords[i] = k
		}
	} else if full {
		st.HandoffKeywords = append([]string(nil), domain.DefaultHandoffKeywords...)
	}
	if st.AnswerTimeout != nil && (*st.AnswerTimeout < 5 || *st.AnswerTimeout > 86400) {
		return domain.Errorf(domain.ErrInvalidField, "answer_timeout_seconds is from 5 to 86400")
	}
	if full && st.AnswerTimeout == nil {
		d := 60
		st.AnswerTimeout = &d
	}
	if full && st.IncludeToken == nil {
		f := false
		st.IncludeToken = &f
	}
	return nil
}

// Create makes a bot of an instance; it returns the bot, its token and its
// signing secret, each shown this once.
func (s *Store) Create(ctx context.Context, instanceID string, st Settings) (Bot, string, string, error) {
	if err := s.validate(&st, true); err != nil {
		return Bot{}, "", "", err
	}
	id := domain.RandomID(IDPrefix, s.random)
	token := s.newToken()
	sealed, nonce, err := s.hooks.SealBotToken(id, token)
	if err != nil {
		return Bot{}, "", "", err
	}
	var sub, secret string
	if *st.WebhookURL != "" {
		if sub, secret, err = s.hooks.CreateBotSubscription(ctx, instanceID, id, *st.WebhookURL, st.Events); err != nil {
			return Bot{}, "", "", err
		}
	}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	turns := 5
	if st.MaxTurns != nil {
		turns = *st.MaxTurns
	}
	b, err := scanBot(s.pool.QueryRow(ctx, `INSERT INTO bots (bot_id, instance_id, name, token_hash, webhook_url, events, mode,
		include_token, subscription_id, token_sealed, token_nonce, handoff_keywords, answer_timeout_seconds,
		kind, system_prompt, faq, model, max_turns)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, nullif($9, ''), $10, $11, $12, $13, $14, $15, $16, $17, $18) RETURNING `+botColumns,
		id, instanceID, *st.Name, hashToken(token), *st.WebhookURL, st.Events, *st.Mode, *st.IncludeToken, sub, sealed, nonce,
		st.HandoffKeywords, *st.AnswerTimeout, *st.Kind, str(st.SystemPrompt), str(st.FAQ), str(st.Model), turns))
	if err != nil {
		if sub != "" {
			_ = s.hooks.DeleteBotSubscription(context.WithoutCancel(ctx), sub)
		}
		return Bot{}, "", "", nameTaken(err, *st.Name)
	}
	s.forget(instanceID)
	return b, token, secret, nil
}

const botColumns = `bot_id, instance_id, name, webhook_url, events, mode, include_token, handoff_keywords,
	answer_timeout_seconds, kind, system_prompt, faq, model, max_turns, created_at, updated_at`

func scanBot(row pgx.Row) (Bot, error) {
	var b Bot
	err := row.Scan(&b.ID, &b.InstanceID, &b.Name, &b.WebhookURL, &b.Events, &b.Mode, &b.IncludeToken, &b.HandoffKeywords,
		&b.AnswerTimeout, &b.Kind, &b.SystemPrompt, &b.FAQ, &b.Model, &b.MaxTurns, &b.CreatedAt, &b.UpdatedAt)
	b.CreatedAt, b.UpdatedAt = b.CreatedAt.UTC(), b.UpdatedAt.UTC()
	return b, err
}

func nameTaken(err error, name string) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return domain.Errorf(ErrBotNameTaken, "a bot named %q exists in this instance", name)
	}
	return fmt.Errorf("store bot: %w", err)
}

// List returns the instance's live bots, oldest first.
func (s *Store) List(ctx context.Context, instanceID string) ([]Bot, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+botColumns+` FROM bots WHERE instance_id = $1 AND deleted_at IS NULL
		ORDER BY created_at, bot_id`, instanceID)
	if err != nil {
		return nil, fmt.Errorf("list bots: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Bot, error) { return scanBot(r) })
	if out == nil {
		out = []Bot{}
	}
	return out, err
}

// Get returns a live bot of the instance.
func (s *Store) Get(ctx context.Context, instanceID, id string) (Bot, error) {
	b, err := scanBot(s.pool.QueryRow(ctx, `SELECT `+botColumns+` FROM bots WHERE bot_id = $1 AND instance_id = $2 AND deleted_at IS NULL`, id, instanceID))
	if errors.Is(err, pgx.ErrNoRows) {
		return Bot{}, domain.Errorf(ErrBotNotFound, "no bot %q", id)
	}
	return b, err
}

// ByToken finds the live bot a token belongs to (ErrBadBotToken otherwise).
func (s *Store) ByToken(ctx context.Context, token string) (Bot, error) {
	if !strings.HasPrefix(token, TokenPrefix) || len(token) > 200 {
		return Bot{}, ErrBadBotToken
	}
	b, err := scanBot(s.pool.QueryRow(ctx, `SELECT `+botColumns+` FROM bots WHERE token_hash = $1 AND deleted_at IS NULL`, hashToken(token)))
	if errors.Is(err, pgx.ErrNoRows) {
		return Bot{}, ErrBadBotToken
	}
	return b, err
}

// Update changes the given settings of a live bot.
func (s *Store) Update(ctx context.Context, instanceID, id string, st Settings) (Bot, error) {
	if st.Kind != nil {
		return Bot{}, domain.Errorf(domain.ErrInvalidField, "a bot's kind does not change: create another bot")
	}
	if err := s.validate(&st, false); err != nil {
		return Bot{}, err
	}
	b, err := scanBot(s.pool.QueryRow(ctx, `UPDATE bots SET name = coalesce($3, name), webhook_url = coalesce($4, webhook_url),
		events = coalesce($5, events), mode = coalesce($6, mode), include_token = coalesce($7, include_token),
		handoff_keywords = coalesce($8, handoff_keywords), answer_timeout_seconds = coalesce($9, answer_timeout_seconds),
		system_prompt = coalesce($10, system_prompt), faq = coalesce($11, faq), model = coalesce($12, model),
		max_turns = coalesce($13, max_turns), updated_at = now()
		WHERE bot_id = $1 AND instance_id = $2 AND deleted_at IS NULL RETURNING `+botColumns,
		id, instanceID, st.Name, st.WebhookURL, st.Events, st.Mode, st.IncludeToken, st.HandoffKeywords, st.AnswerTimeout,
		st.SystemPrompt, st.FAQ, st.Model, st.MaxTurns))
	s.forget(instanceID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Bot{}, domain.Errorf(ErrBotNotFound, "no bot %q", id)
	}
	if err != nil && st.Name != nil {
		return Bot{}, nameTaken(err, *st.Name)
	}
	if err != nil {
		return Bot{}, err
	}
	// Any change also turns the bot's pushes on again if the failure window
	// turned them off.
	if err := s.hooks.UpdateBotSubscription(ctx, s.subscriptionOf(ctx, id), st.WebhookURL, st.Events); err != nil {
		return Bot{}, err
	}
	return b, nil
}

func (s *Store) subscriptionOf(ctx context.Context, botID string) string {
	var sub string
	_ = s.pool.QueryRow(ctx, `SELECT subscription_id FROM bots WHERE bot_id = $1`, botID).Scan(&sub)
	return sub
}

// SetVersion records the version header of a bot's call, which its pushes echo.
func (s *Store) SetVersion(ctx context.Context, botID, version string) error {
	if len(version) > 32 {
		version = version[:32]
	}
	_, err := s.pool.Exec(ctx, `UPDATE bots SET api_version = $2 WHERE bot_id = $1 AND api_version <> $2`, botID, version)
	return err
}

// Delete retires a bot: its token stops working at once.
func (s *Store) Delete(ctx context.Context, instanceID, id string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE bots SET deleted_at = now(), updated_at = now() WHERE bot_id = $1 AND instance_id = $2 AND deleted_at IS NULL`, id, instanceID)
	if err != nil {
		return fmt.Errorf("delete bot: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return domain.Errorf(ErrBotNotFound, "no bot %q", id)
	}
	s.forget(instanceID)
	return s.hooks.DeleteBotSubscription(ctx, s.subscriptionOf(ctx, id))
}

// RotateToken gives a bot a new token; the old one stops working at once.
func (s *Store) RotateToken(ctx context.Context, instanceID, id string) (Bot, string, error) {
	token := s.newToken()
	sealed, nonce, err := s.hooks.SealBotToken(id, token)
	if err != nil {
		return Bot{}, "", err
	}
	b, err := scanBot(s.pool.QueryRow(ctx, `UPDATE bots SET token_hash = $3, token_sealed = $4, token_nonce = $5, updated_at = now()
		WHERE bot_id = $1 AND instance_id = $2 AND deleted_at IS NULL RETURNING `+botColumns, id, instanceID, hashToken(token), sealed, nonce))
	if errors.Is(err, pgx.ErrNoRows) {
		return Bot{}, "", domain.Errorf(ErrBotNotFound, "no bot %q", id)
	}
	return b, token, err
}

// firstTTL bounds how long another process may still use an instance's
// first-mode bot after it changed (this process forgets at once).
const firstTTL = 2 * time.Second

type firstEntry struct {
	bot     domain.BotFirst
	expires time.Time
}

func (s *Store) forget(instanceID string) {
	s.mu.Lock()
	delete(s.first, instanceID)
	s.mu.Unlock()
}

// FirstBot is the instance's bot in first mode (the oldest, if several),
// or none: every webhook asks, so answers are reused for firstTTL.
func (s *Store) FirstBot(ctx context.Context, instanceID string) (domain.BotFirst, error) {
	s.mu.Lock()
	e, ok := s.first[instanceID]
	s.mu.Unlock()
	if ok && time.Now().Before(e.expires) {
		return e.bot, nil
	}
	var b domain.BotFirst
	err := s.pool.QueryRow(ctx, `SELECT bot_id, handoff_keywords FROM bots WHERE instance_id = $1 AND mode = 'first'
		AND deleted_at IS NULL ORDER BY created_at, bot_id LIMIT 1`, instanceID).Scan(&b.BotID, &b.Keywords)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return domain.BotFirst{}, fmt.Errorf("find the first bot: %w", err)
	}
	s.mu.Lock()
	if len(s.first) > 10000 {
		clear(s.first)
	}
	s.first[instanceID] = firstEntry{bot: b, expires: time.Now().Add(firstTTL)}
	s.mu.Unlock()
	return b, nil
}

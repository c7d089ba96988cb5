package webhooks

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/socialops/socialops/domain"
)

// Bots' pushes (seed 001: message, dialog_open, member_join, member_leave)
// go through a hidden subscription per bot: the same signing, retries,
// auto-disable and delivery log as outbound webhooks. Such subscriptions
// are not listed nor changed through the webhook routes; the bots store
// keeps them in step with the bot.

// BotEventPrefix marks a bot push's event type in the delivery log.
const BotEventPrefix = "bot."

// BotTokenAD binds a bot token's ciphertext to its bot.
func BotTokenAD(botID string) []byte { return []byte("bot-token:" + botID) }

// CreateBotSubscription makes the subscription of a bot's pushes (events:
// the bot's event names); it returns its id and signing secret.
func (s *Store) CreateBotSubscription(ctx context.Context, instanceID, botID, url string, events []string) (string, string, error) {
	if err := ValidateURL(url, s.allowPrivate); err != nil {
		return "", "", err
	}
	if err := s.sealer.Usable(); err != nil {
		return "", "", err
	}
	var start uint64
	if s.head != nil {
		h, err := s.head(ctx)
		if err != nil {
			return "", "", fmt.Errorf("create bot subscription: %w", err)
		}
		start = h
	}
	secret, err := s.newSecret()
	if err != nil {
		return "", "", err
	}
	id := domain.RandomID("whsub_bot_", s.random)
	ct, nonce, err := s.sealer.Seal([]byte(secret), secretAD(id))
	if err != nil {
		return "", "", err
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO webhook_subscriptions (subscription_id, instance_id, url, events, description,
		enabled, start_position, secret_ciphertext, secret_nonce, bot_id) VALUES ($1, $2, $3, $4, 'bot pushes', true, $5, $6, $7, $8)`,
		id, instanceID, url, events, int64(start), ct, nonce, botID); err != nil {
		return "", "", fmt.Errorf("create bot subscription: %w", err)
	}
	s.notify()
	return id, secret, nil
}

// UpdateBotSubscription follows a bot's new URL or events (nil: unchanged).
func (s *Store) UpdateBotSubscription(ctx context.Context, id string, url *string, events []string) error {
	if url != nil {
		if err := ValidateURL(*url, s.allowPrivate); err != nil {
			return err
		}
	}
	// A change also re-enables pushes the failure window turned off, and
	// makes what they held due now: the bot resumes where it stopped.
	tag, err := s.pool.Exec(ctx, `UPDATE webhook_subscriptions SET url = coalesce($2, url), events = coalesce($3, events),
		enabled = true, disabled_reason = '', failing_since = NULL, updated_at = now()
		WHERE subscription_id = $1 AND bot_id IS NOT NULL`, id, url, events)
	if err != nil || tag.RowsAffected() == 0 {
		return err
	}
	if _, err := s.pool.Exec(ctx, `UPDATE webhook_deliveries SET next_attempt_at = now() WHERE subscription_id = $1 AND status = 'pending'`, id); err != nil {
		return err
	}
	s.notify()
	return nil
}

// DeleteBotSubscription ends a retired bot's pushes (its delivery log goes with it).
func (s *Store) DeleteBotSubscription(ctx context.Context, id string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM webhook_subscriptions WHERE subscription_id = $1 AND bot_id IS NOT NULL`, id)
	return err
}

// SealBotToken encrypts a bot token for pushes that carry it.
func (s *Store) SealBotToken(botID, token string) ([]byte, []byte, error) {
	return s.sealer.Seal([]byte(token), BotTokenAD(botID))
}

// botPush is a domain event as seed 001 pushes it to bots: its event name
// and fields, before the bot's own (bot_uid, version, token) are added.
type botPush struct {
	event    string
	threadID string
	fields   map[string]any
}

// mapBotPush tells which domain events bots are told of, and how.
func mapBotPush(env domain.Envelope) (botPush, bool) {
	switch p := env.Payload.(type) {
	case domain.InboundMessageReceived:
		user := map[string]any{"userid": p.ContactID, "nickname": p.Sender.DisplayName}
		return botPush{event: "message", threadID: p.ThreadID, fields: map[string]any{
			"text": p.Text, "reply_text": "", "session_id": p.ThreadID, "dialog_id": p.ThreadID, "dialog_type": "user",
			"msg_id": p.MessageID, "msg_uid": p.ContactID, "msg_user": user, "mention": true,
		}}, true
	case domain.ThreadOpened:
		member := map[string]any{"userid": p.ContactID}
		return botPush{event: "dialog_open", threadID: p.ThreadID, fields: map[string]any{
			"dialog_id": p.ThreadID, "dialog_type": "user", "group_type": "", "dialog_name": p.Subject,
			"member": member, "operator": member,
		}}, true
	case domain.SessionReopened:
		return botPush{event: "dialog_open", threadID: p.ThreadID, fields: map[string]any{
			"dialog_id": p.ThreadID, "dialog_type": "user", "group_type": "", "dialog_name": "",
			"member": map[string]any{}, "operator": map[string]any{},
		}}, true
	case domain.MemberChanged:
		event := "member_join"
		if !p.Joined {
			event = "member_leave"
		}
		member := map[string]any{"userid": p.MemberID, "nickname": p.MemberName}
		operator := map[string]any{"userid": p.OperatorID, "nickname": p.OperatorName}
		return botPush{event: event, threadID: p.ThreadID, fields: map[string]any{
			"dialog_id": p.ThreadID, "dialog_type": "group", "group_type": p.GroupType, "dialog_name": p.DialogName,
			"member": member, "operator": operator,
		}}, true
	}
	return botPush{}, false
}

// botInfo is what a bot's pushes carry of the bot.
type botInfo struct {
	id, version string
	token       string // only when include_token is on
}

// botsOf reads the bots behind bot subscriptions (their tokens decrypted
// only for those that carry them).
func (d *Dispatcher) botsOf(ctx context.Context, tx pgx.Tx, subs []string) (map[string]botInfo, error) {
	out := map[string]botInfo{}
	if len(subs) == 0 {
		return out, nil
	}
	rows, err := tx.Query(ctx, `SELECT subscription_id, bot_id, api_version, include_token, token_sealed, token_nonce
		FROM bots WHERE subscription_id = ANY($1) AND deleted_at IS NULL`, subs)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var sub string
		var b botInfo
		var include bool
		var ct, nonce []byte
		if err := rows.Scan(&sub, &b.id, &b.version, &include, &ct, &nonce); err != nil {
			return nil, err
		}
		if include {
			plain, err := d.subs.sealer.Open(ct, nonce, BotTokenAD(b.id))
			if err != nil {
				return nil, fmt.Errorf("open the token of bot %s: %w", b.id, err)
			}
			b.token = string(plain)
		}
		out[sub] = b
	}
	return out, rows.Err()
}

// botBody is a push's JSON for one bot.
func botBody(p botPush, b botInfo) ([]byte, error) {
	body := make(map[string]any, len(p.fields)+4)
	for k, v := range p.fields {
		body[k] = v
	}
	body["event"], body["bot_uid"], body["version"] = p.event, b.id, b.version
	if b.token != "" {
		body["token"] = b.token
	}
	return json.Marshal(body)
}

package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/socialops/socialops/domain"
)

// WeComSettings are an instance's WeCom callback and sending settings. Token,
// AESKey and Secret are stored encrypted and never shown.
type WeComSettings struct {
	CorpID  string
	AgentID int64
	Token   string // callback token (signs callbacks)
	AESKey  string // EncodingAESKey, 43 characters
	Secret  string // the app's secret, for gettoken; "" when replies are not sent
}

type wecomSecrets struct {
	Token  string `json:"token"`
	AESKey string `json:"aes_key"`
	Secret string `json:"secret,omitempty"`
}

var (
	validCorpID     = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	validWeComToken = regexp.MustCompile(`^[A-Za-z0-9]{1,32}$`)
	validAESKey     = regexp.MustCompile(`^[A-Za-z0-9+/]{43}$`)
)

// validate checks the settings against what the WeCom admin console issues.
func (s WeComSettings) validate() error {
	switch {
	case !validCorpID.MatchString(s.CorpID):
		return domain.Errorf(domain.ErrInvalidField, "corp id must be 1 to 64 letters, digits, '_' or '-'")
	case s.AgentID <= 0:
		return domain.Errorf(domain.ErrInvalidField, "agent id must be a positive number")
	case !validWeComToken.MatchString(s.Token):
		return domain.Errorf(domain.ErrInvalidField, "token must be 1 to 32 letters or digits")
	case !validAESKey.MatchString(s.AESKey):
		return domain.Errorf(domain.ErrInvalidField, "the EncodingAESKey must be 43 letters, digits, '+' or '/'")
	case len(s.Secret) > 256:
		return domain.Errorf(domain.ErrInvalidField, "the app secret is at most 256 characters")
	}
	return nil
}

func wecomAD(instanceID string) []byte { return []byte("wecom_settings\x00" + instanceID) }

// SetWeComSettings stores, encrypted, an instance's WeCom settings. It needs
// the encryption key.
func (t *Tenancy) SetWeComSettings(ctx context.Context, alias string, s WeComSettings) error {
	if err := s.validate(); err != nil {
		return err
	}
	if t.box.aead == nil {
		return fmt.Errorf("set wecom settings: %w", t.box.keyErr)
	}
	inst, err := t.InstanceByAlias(ctx, alias)
	if err != nil {
		return err
	}
	plain, err := json.Marshal(wecomSecrets{Token: s.Token, AESKey: s.AESKey, Secret: s.Secret})
	if err != nil {
		return err
	}
	ciphertext, nonce, err := t.box.seal(plain, wecomAD(inst.ID))
	if err != nil {
		return fmt.Errorf("set wecom settings: %w", err)
	}
	_, err = t.pool.Exec(ctx, `INSERT INTO wecom_settings (instance_id, corp_id, agent_id, secrets_ciphertext, secrets_nonce)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (instance_id) DO UPDATE SET corp_id = EXCLUDED.corp_id, agent_id = EXCLUDED.agent_id,
			secrets_ciphertext = EXCLUDED.secrets_ciphertext, secrets_nonce = EXCLUDED.secrets_nonce, updated_at = now()`,
		inst.ID, s.CorpID, s.AgentID, ciphertext, nonce)
	if err != nil {
		return fmt.Errorf("set wecom settings: %w", err)
	}
	return nil
}

// WeComSettings returns an instance's WeCom settings; ok is false when none
// are set.
func (t *Tenancy) WeComSettings(ctx context.Context, instanceID string) (WeComSettings, bool, error) {
	var s WeComSettings
	var ciphertext, nonce []byte
	err := t.pool.QueryRow(ctx, `SELECT corp_id, agent_id, secrets_ciphertext, secrets_nonce FROM wecom_settings WHERE instance_id = $1`,
		instanceID).Scan(&s.CorpID, &s.AgentID, &ciphertext, &nonce)
	if errors.Is(err, pgx.ErrNoRows) {
		return WeComSettings{}, false, nil
	}
	if err != nil {
		return WeComSettings{}, false, fmt.Errorf("find wecom settings: %w", err)
	}
	plain, err := t.box.open(ciphertext, nonce, wecomAD(instanceID))
	if err != nil {
		return WeComSettings{}, false, fmt.Errorf("read wecom settings of %s: %w", instanceID, err)
	}
	var sec wecomSecrets
	if err := json.Unmarshal(plain, &sec); err != nil {
		return WeComSettings{}, false, fmt.Errorf("read wecom settings of %s: %w", instanceID, err)
	}
	s.Token, s.AESKey, s.Secret = sec.Token, sec.AESKey, sec.Secret
	return s, true, nil
}

// ClaimCallbackNonce records a signed channel callback's nonce until
// expiresAt; fresh is false when the nonce was already seen (a replay). It
// first deletes a few expired nonces, so the table holds about one window.
func (t *Tenancy) ClaimCallbackNonce(ctx context.Context, instanceID, channelType, nonce string, now, expiresAt time.Time) (fresh bool, err error) {
	if _, err := t.pool.Exec(ctx, `DELETE FROM channel_callback_nonces WHERE ctid = ANY (ARRAY(
			SELECT ctid FROM channel_callback_nonces WHERE expires_at < $1 LIMIT 100))`, now); err != nil {
		return false, fmt.Errorf("expire callback nonces: %w", err)
	}
	tag, err := t.pool.Exec(ctx, `INSERT INTO channel_callback_nonces (instance_id, channel_type, nonce, expires_at)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (instance_id, channel_type, nonce) DO UPDATE SET expires_at = EXCLUDED.expires_at
			WHERE channel_callback_nonces.expires_at < $5`, instanceID, channelType, nonce, expiresAt, now)
	if err != nil {
		return false, fmt.Errorf("claim callback nonce: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// ReleaseCallbackNonce forgets a nonce whose callback was not stored, so the
// sender's retry with it is not taken for a replay.
func (t *Tenancy) ReleaseCallbackNonce(ctx context.Context, instanceID, channelType, nonce string) error {
	_, err := t.pool.Exec(ctx, `DELETE FROM channel_callback_nonces WHERE instance_id = $1 AND channel_type = $2 AND nonce = $3`,
		instanceID, channelType, nonce)
	if err != nil {
		return fmt.Errorf("release callback nonce: %w", err)
	}
	return nil
}

package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/socialops/socialops/domain"
)

// Scopes of API keys.
const (
	ScopeWrite = "socialops:write"
	ScopeRead  = "socialops:read"
	ScopeAudit = "socialops:audit"
)

// KnownScopes lists the scopes a key may carry.
var KnownScopes = []string{ScopeWrite, ScopeRead, ScopeAudit}

// Tenancy errors.
var (
	ErrAliasTaken   = &domain.Error{Code: "alias_taken", Message: "an instance with this alias exists"}
	ErrInvalidAlias = &domain.Error{Code: "invalid_alias", Message: "an alias is 2 to 63 characters of a-z, 0-9 and '-', starting with a letter or digit"}
	ErrUnknownScope = &domain.Error{Code: "unknown_scope", Message: "unknown scope"}
	ErrKeyNotFound  = &domain.Error{Code: "invalid_api_key", Message: "the API key is not valid"}
)

var aliasPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,62}$`)

// APIKey is a stored credential (an API key, an OAuth2 client or a signing
// key), without its secret.
type APIKey struct {
	ID       string
	Kind     string // KindAPIKey, KindOAuthClient, KindSigningKey
	PublicID string // an OAuth2 client id or a signing key's access key
	OwnerID  string
	Scopes   []string
	Name     string
	// InstanceID (and its alias) limit the credential to one instance; ""
	// lets it reach every instance of the owner.
	InstanceID    string
	InstanceAlias string
	ExpiresAt     *time.Time
	CreatedAt     time.Time
	LastUsedAt    *time.Time
	RevokedAt     *time.Time
	AllowedCIDRs  []netip.Prefix // empty: any address
	RatePerSecond float64        // 0: the server's default
	OperatorID    int64          // non-zero: sees only this operator's sessions
}

// AllowsIP tells whether the allowlist admits addr (an empty list admits all).
func (k APIKey) AllowsIP(addr netip.Addr) bool {
	if len(k.AllowedCIDRs) == 0 {
		return true
	}
	addr = addr.Unmap()
	for _, p := range k.AllowedCIDRs {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// HasScope tells whether the key carries a scope.
func (k APIKey) HasScope(scope string) bool {
	for _, s := range k.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}

// Tenancy stores instances, API keys and webhook secrets. Webhook secrets are
// stored encrypted (see WithEncryptionKey); rows written in plain text before
// encryption existed are still read, until EncryptPlainWebhookSecrets.
type Tenancy struct {
	pool      *pgxpool.Pool
	random    io.Reader
	instances *ttlCache[domain.Instance]
	keys      *ttlCache[APIKey]
	secrets   *ttlCache[string]
	box       sealer
}

// NewTenancy returns the tenancy repository, without an encryption key: it
// can then neither store nor read encrypted webhook secrets.
func NewTenancy(pool *pgxpool.Pool, random io.Reader) *Tenancy {
	if random == nil {
		random = domain.CryptoRandom
	}
	return &Tenancy{pool: pool, random: random,
		instances: newTTLCache[domain.Instance](), keys: newTTLCacheFor[APIKey](credentialTTL), secrets: newTTLCache[string](),
		box: newSealer(nil, random)}
}

// WithEncryptionKey sets the 32-byte AES-256 key (SOCIALOPS_ENCRYPTION_KEY)
// that webhook secrets are encrypted with, and returns t.
func (t *Tenancy) WithEncryptionKey(key []byte) *Tenancy {
	t.box = newSealer(key, t.random)
	return t
}

// secretAD binds a webhook secret's ciphertext to its row.
func secretAD(instanceID, provider string) []byte {
	return []byte("webhook_secret\x00" + instanceID + "\x00" + provider)
}

// CreateInstance registers an instance alias for an owner.
func (t *Tenancy) CreateInstance(ctx context.Context, ownerID, alias string) (domain.Instance, error) {
	if strings.TrimSpace(ownerID) == "" {
		return domain.Instance{}, domain.Errorf(domain.ErrMissingField, "owner is required")
	}
	if !aliasPattern.MatchString(alias) {
		return domain.Instance{}, ErrInvalidAlias
	}
	inst := domain.Instance{ID: domain.RandomID("soinst_", t.random), Alias: alias, OwnerID: ownerID}
	_, err := t.pool.Exec(ctx, `INSERT INTO instances (instance_id, alias, owner_id) VALUES ($1, $2, $3)`, inst.ID, inst.Alias, inst.OwnerID)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return domain.Instance{}, domain.Errorf(ErrAliasTaken, "alias %q is taken", alias)
	}
	if err != nil {
		return domain.Instance{}, fmt.Errorf("create instance: %w", err)
	}
	return inst, nil
}

// InstanceByAlias finds an instance; domain.ErrInstanceNotFound when there is none.
func (t *Tenancy) InstanceByAlias(ctx context.Context, alias string) (domain.Instance, error) {
	if inst, ok := t.instances.get(alias); ok {
		return inst, nil
	}
	var inst domain.Instance
	err := t.pool.QueryRow(ctx, `SELECT instance_id, alias, owner_id FROM instances WHERE alias = $1`, alias).Scan(&inst.ID, &inst.Alias, &inst.OwnerID)
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Instance{}, domain.ErrInstanceNotFound
	}
	if err != nil {
		return domain.Instance{}, fmt.Errorf("find instance: %w", err)
	}
	t.instances.put(alias, inst)
	return inst, nil
}

// InstancesOfOwner lists an owner's instances by alias.
func (t *Tenancy) InstancesOfOwner(ctx context.Context, ownerID string) ([]domain.Instance, error) {
	rows, err := t.pool.Query(ctx, `SELECT instance_id, alias, owner_id FROM instances WHERE owner_id = $1 ORDER BY alias`, ownerID)
	if err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Instance, error) {
		var i domain.Instance
		return i, r.Scan(&i.ID, &i.Alias, &i.OwnerID)
	})
}

// CreateAPIKey makes an owner-wide key without expiry and returns it; only
// its hash is stored.
func (t *Tenancy) CreateAPIKey(ctx context.Context, ownerID string, scopes []string) (string, APIKey, error) {
	return t.CreateCredentialAPIKey(ctx, CredentialSpec{OwnerID: ownerID, Scopes: scopes})
}

// SetWebhookSecret stores, encrypted, the secret a provider signs deliveries
// with for an instance. It needs the encryption key.
func (t *Tenancy) SetWebhookSecret(ctx context.Context, alias, provider, secret string) error {
	if len(secret) < 8 || len(secret) > 256 {
		return domain.Errorf(domain.ErrInvalidField, "a webhook secret is 8 to 256 characters")
	}
	if t.box.aead == nil {
		return fmt.Errorf("set webhook secret: %w", t.box.keyErr)
	}
	inst, err := t.InstanceByAlias(ctx, alias)
	if err != nil {
		return err
	}
	ciphertext, nonce, err := t.box.seal([]byte(secret), secretAD(inst.ID, provider))
	if err != nil {
		return fmt.Errorf("set webhook secret: %w", err)
	}
	_, err = t.pool.Exec(ctx, `INSERT INTO webhook_secrets (instance_id, provider, secret, secret_ciphertext, secret_nonce)
		VALUES ($1, $2, NULL, $3, $4)
		ON CONFLICT (instance_id, provider) DO UPDATE SET secret = NULL, secret_ciphertext = EXCLUDED.secret_ciphertext,
			secret_nonce = EXCLUDED.secret_nonce, updated_at = now()`, inst.ID, provider, ciphertext, nonce)
	if err != nil {
		return fmt.Errorf("set webhook secret: %w", err)
	}
	t.secrets.put(inst.ID+"\x00"+provider, secret)
	return nil
}

// WebhookSecret returns the secret for an instance and provider; ok is false
// when none is set. A plain-text row (from before encryption) is returned as
// it is; an encrypted one needs the key.
func (t *Tenancy) WebhookSecret(ctx context.Context, instanceID, provider string) (string, bool, error) {
	if secret, ok := t.secrets.get(instanceID + "\x00" + provider); ok {
		return secret, true, nil
	}
	var plain *string
	var ciphertext, nonce []byte
	err := t.pool.QueryRow(ctx, `SELECT secret, secret_ciphertext, secret_nonce FROM webhook_secrets WHERE instance_id = $1 AND provider = $2`,
		instanceID, provider).Scan(&plain, &ciphertext, &nonce)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("find webhook secret: %w", err)
	}
	secret := ""
	if plain != nil {
		secret = *plain
	} else {
		b, err := t.box.open(ciphertext, nonce, secretAD(instanceID, provider))
		if err != nil {
			return "", false, fmt.Errorf("read webhook secret of %s/%s: %w", instanceID, provider, err)
		}
		secret = string(b)
	}
	t.secrets.put(instanceID+"\x00"+provider, secret)
	return secret, true, nil
}

// WebhookSecretCounts tells how many webhook secrets are stored in plain text
// (from before encryption) and how many encrypted.
func (t *Tenancy) WebhookSecretCounts(ctx context.Context) (plain, encrypted int, err error) {
	err = t.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE secret IS NOT NULL), count(*) FILTER (WHERE secret IS NULL) FROM webhook_secrets`).
		Scan(&plain, &encrypted)
	if err != nil {
		return 0, 0, fmt.Errorf("count webhook secrets: %w", err)
	}
	return plain, encrypted, nil
}

// EncryptPlainWebhookSecrets encrypts every webhook secret still stored in
// plain text and returns how many it encrypted. It needs the key. A row
// changed meanwhile (set again by another process) is left to that change.
func (t *Tenancy) EncryptPlainWebhookSecrets(ctx context.Context) (int, error) {
	if t.box.aead == nil {
		return 0, fmt.Errorf("encrypt webhook secrets: %w", t.box.keyErr)
	}
	type row struct{ instanceID, provider, secret string }
	rows, err := t.pool.Query(ctx, `SELECT instance_id, provider, secret FROM webhook_secrets WHERE secret IS NOT NULL`)
	if err != nil {
		return 0, fmt.Errorf("encrypt webhook secrets: %w", err)
	}
	plain, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		return x, r.Scan(&x.instanceID, &x.provider, &x.secret)
	})
	if err != nil {
		return 0, fmt.Errorf("encrypt webhook secrets: %w", err)
	}
	n := 0
	for _, r := range plain {
		ciphertext, nonce, err := t.box.seal([]byte(r.secret), secretAD(r.instanceID, r.provider))
		if err != nil {
			return n, fmt.Errorf("encrypt webhook secrets: %w", err)
		}
		tag, err := t.pool.Exec(ctx, `UPDATE webhook_secrets SET secret = NULL, secret_ciphertext = $4, secret_nonce = $5
			WHERE instance_id = $1 AND provider = $2 AND secret = $3`, r.instanceID, r.provider, r.secret, ciphertext, nonce)
		if err != nil {
			return n, fmt.Errorf("encrypt webhook secrets: %w", err)
		}
		n += int(tag.RowsAffected())
	}
	return n, nil
}

package postgres

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

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

// APIKey is a stored key, without its secret.
type APIKey struct {
	ID      string
	OwnerID string
	Scopes  []string
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

// Tenancy stores instances, API keys and webhook secrets.
type Tenancy struct {
	pool      *pgxpool.Pool
	random    io.Reader
	instances *ttlCache[domain.Instance]
	keys      *ttlCache[APIKey]
	secrets   *ttlCache[string]
}

// NewTenancy returns the tenancy repository.
func NewTenancy(pool *pgxpool.Pool, random io.Reader) *Tenancy {
	if random == nil {
		random = domain.CryptoRandom
	}
	return &Tenancy{pool: pool, random: random,
		instances: newTTLCache[domain.Instance](), keys: newTTLCache[APIKey](), secrets: newTTLCache[string]()}
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

// CreateAPIKey makes a key for an owner and returns it; only its hash is stored.
func (t *Tenancy) CreateAPIKey(ctx context.Context, ownerID string, scopes []string) (string, APIKey, error) {
	if strings.TrimSpace(ownerID) == "" {
		return "", APIKey{}, domain.Errorf(domain.ErrMissingField, "owner is required")
	}
	if len(scopes) == 0 {
		return "", APIKey{}, domain.Errorf(domain.ErrMissingField, "at least one scope is required")
	}
	seen := map[string]bool{}
	var clean []string
	for _, s := range scopes {
		s = strings.TrimSpace(s)
		known := false
		for _, k := range KnownScopes {
			known = known || k == s
		}
		if !known {
			return "", APIKey{}, domain.Errorf(ErrUnknownScope, "unknown scope %q (known: %s)", s, strings.Join(KnownScopes, ", "))
		}
		if !seen[s] {
			seen[s] = true
			clean = append(clean, s)
		}
	}
	key := APIKey{ID: domain.RandomID("sokey_", t.random), OwnerID: ownerID, Scopes: clean}
	secret := "sk_" + domain.RandomID("", t.random) + domain.RandomID("", t.random)
	hash := sha256.Sum256([]byte(secret))
	if _, err := t.pool.Exec(ctx, `INSERT INTO api_keys (key_id, key_hash, owner_id, scopes) VALUES ($1, $2, $3, $4)`,
		key.ID, hash[:], key.OwnerID, key.Scopes); err != nil {
		return "", APIKey{}, fmt.Errorf("create api key: %w", err)
	}
	return secret, key, nil
}

// APIKeyBySecret finds a live key by its secret; ErrKeyNotFound otherwise.
// The lookup is by hash, so no comparison of secrets happens here at all.
func (t *Tenancy) APIKeyBySecret(ctx context.Context, secret string) (APIKey, error) {
	if !strings.HasPrefix(secret, "sk_") || len(secret) > 200 {
		return APIKey{}, ErrKeyNotFound
	}
	hash := sha256.Sum256([]byte(secret))
	if k, ok := t.keys.get(string(hash[:])); ok {
		return k, nil
	}
	var k APIKey
	err := t.pool.QueryRow(ctx, `SELECT key_id, owner_id, scopes FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL`, hash[:]).Scan(&k.ID, &k.OwnerID, &k.Scopes)
	if errors.Is(err, pgx.ErrNoRows) {
		return APIKey{}, ErrKeyNotFound
	}
	if err != nil {
		return APIKey{}, fmt.Errorf("find api key: %w", err)
	}
	t.keys.put(string(hash[:]), k)
	return k, nil
}

// SetWebhookSecret stores the secret a provider signs deliveries with for an instance.
func (t *Tenancy) SetWebhookSecret(ctx context.Context, alias, provider, secret string) error {
	if len(secret) < 8 || len(secret) > 256 {
		return domain.Errorf(domain.ErrInvalidField, "a webhook secret is 8 to 256 characters")
	}
	inst, err := t.InstanceByAlias(ctx, alias)
	if err != nil {
		return err
	}
	_, err = t.pool.Exec(ctx, `INSERT INTO webhook_secrets (instance_id, provider, secret) VALUES ($1, $2, $3)
		ON CONFLICT (instance_id, provider) DO UPDATE SET secret = EXCLUDED.secret, updated_at = now()`, inst.ID, provider, secret)
	if err != nil {
		return fmt.Errorf("set webhook secret: %w", err)
	}
	t.secrets.put(inst.ID+"\x00"+provider, secret)
	return nil
}

// WebhookSecret returns the secret for an instance and provider; ok is false when none is set.
func (t *Tenancy) WebhookSecret(ctx context.Context, instanceID, provider string) (string, bool, error) {
	if secret, ok := t.secrets.get(instanceID + "\x00" + provider); ok {
		return secret, true, nil
	}
	var secret string
	err := t.pool.QueryRow(ctx, `SELECT secret FROM webhook_secrets WHERE instance_id = $1 AND provider = $2`, instanceID, provider).Scan(&secret)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("find webhook secret: %w", err)
	}
	t.secrets.put(instanceID+"\x00"+provider, secret)
	return secret, true, nil
}

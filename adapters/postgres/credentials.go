package postgres

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/socialops/socialops/domain"
)

// Kinds of credentials (api_keys.kind).
const (
	KindAPIKey      = "api_key"
	KindOAuthClient = "oauth_client"
	KindSigningKey  = "signing_key"
)

// Credential errors.
var (
	ErrCredentialExpired = &domain.Error{Code: "credential_expired", Message: "the credential has expired"}
	ErrCredentialMissing = &domain.Error{Code: "credential_not_found", Message: "no such credential"}
	ErrInvalidCIDR       = &domain.Error{Code: "invalid_cidr", Message: "an allowlist entry is an IPv4 or IPv6 address or CIDR"}
)

// credentialTTL bounds how long a credential read for a request is reused: a
// revoked or expired credential is refused on every process within it.
const credentialTTL = 500 * time.Millisecond

// maxCredentialTTL bounds --expires.
const maxCredentialTTL = 10 * 365 * 24 * time.Hour

// CredentialSpec is what a new credential carries besides its kind.
type CredentialSpec struct {
	OwnerID       string
	Scopes        []string
	Name          string
	InstanceAlias string        // "" for every instance of the owner
	ExpiresIn     time.Duration // 0 for never
	AllowedCIDRs  []string      // empty for any address
	RatePerSecond float64       // 0 for the server's default
	OperatorID    int64         // 0 for none; needs an instance
}

// credentialColumns is what every credential query reads.
const credentialColumns = `k.key_id, k.kind, coalesce(k.public_id, ''), k.owner_id, k.scopes, k.name,
	coalesce(k.instance_id, ''), coalesce(i.alias, ''), k.expires_at, k.created_at, k.last_used_at, k.revoked_at,
	k.allowed_cidrs, coalesce(k.rate_per_second, 0), coalesce(k.operator_id, 0)`

const credentialFrom = ` FROM api_keys k LEFT JOIN instances i ON i.instance_id = k.instance_id`

func scanCredential(row pgx.Row) (APIKey, error) {
	var k APIKey
	var cidrs []string
	err := row.Scan(&k.ID, &k.Kind, &k.PublicID, &k.OwnerID, &k.Scopes, &k.Name, &k.InstanceID, &k.InstanceAlias,
		&k.ExpiresAt, &k.CreatedAt, &k.LastUsedAt, &k.RevokedAt, &cidrs, &k.RatePerSecond, &k.OperatorID)
	if err != nil {
		return APIKey{}, err
	}
	for _, c := range cidrs {
		if p, err := netip.ParsePrefix(c); err == nil {
			k.AllowedCIDRs = append(k.AllowedCIDRs, p)
		}
	}
	return k, nil
}

// cleanScopes checks scopes against KnownScopes and drops repeats.
func cleanScopes(scopes []string) ([]string, error) {
	if len(scopes) == 0 {
		return nil, domain.Errorf(domain.ErrMissingField, "at least one scope is required")
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
			return nil, domain.Errorf(ErrUnknownScope, "unknown scope %q (known: %s)", s, strings.Join(KnownScopes, ", "))
		}
		if !seen[s] {
			seen[s] = true
			clean = append(clean, s)
		}
	}
	return clean, nil
}

// ParseCIDRs reads an allowlist: addresses (a /32 or /128) or CIDRs.
func ParseCIDRs(entries []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if !strings.Contains(e, "/") {
			a, err := netip.ParseAddr(e)
			if err != nil {
				return nil, domain.Errorf(ErrInvalidCIDR, "%q is not an IP address or CIDR", e)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(e)
		if err != nil {
			return nil, domain.Errorf(ErrInvalidCIDR, "%q is not an IP address or CIDR", e)
		}
		out = append(out, p.Masked())
	}
	if len(out) > 100 {
		return nil, domain.Errorf(ErrInvalidCIDR, "at most 100 allowlist entries")
	}
	return out, nil
}

// createCredential validates spec and stores a credential of kind whose
// secret hashes to hash; sealed, when given, is the encrypted secret.
func (t *Tenancy) createCredential(ctx context.Context, kind, publicID string, spec CredentialSpec, hash []byte, sealed func(keyID string) ([]byte, []byte, error)) (APIKey, error) {
	if strings.TrimSpace(spec.OwnerID) == "" && spec.InstanceAlias == "" {
		return APIKey{}, domain.Errorf(domain.ErrMissingField, "owner is required")
	}
	scopes, err := cleanScopes(spec.Scopes)
	if err != nil {
		return APIKey{}, err
	}
	if len(spec.Name) > 100 || strings.ContainsFunc(spec.Name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return APIKey{}, domain.Errorf(domain.ErrInvalidField, "a name is at most 100 characters, without control characters")
	}
	if spec.ExpiresIn < 0 || spec.ExpiresIn > maxCredentialTTL {
		return APIKey{}, domain.Errorf(domain.ErrInvalidField, "expiry must be positive and at most 10 years")
	}
	if !(spec.RatePerSecond >= 0 && spec.RatePerSecond <= 100000) { // NaN too
		return APIKey{}, domain.Errorf(domain.ErrInvalidField, "a rate is positive and at most 100000 per second")
	}
	cidrs, err := ParseCIDRs(spec.AllowedCIDRs)
	if err != nil {
		return APIKey{}, err
	}
	k := APIKey{ID: domain.RandomID("sokey_", t.random), Kind: kind, PublicID: publicID, OwnerID: spec.OwnerID,
		Scopes: scopes, Name: spec.Name, AllowedCIDRs: cidrs, RatePerSecond: spec.RatePerSecond, OperatorID: spec.OperatorID,
		CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	if spec.InstanceAlias != "" {
		inst, err := t.InstanceByAlias(ctx, spec.InstanceAlias)
		if err != nil {
			return APIKey{}, err
		}
		if k.OwnerID != "" && k.OwnerID != inst.OwnerID {
			return APIKey{}, domain.ErrInstanceNotFound
		}
		k.OwnerID, k.InstanceID, k.InstanceAlias = inst.OwnerID, inst.ID, inst.Alias
	}
	if spec.OperatorID != 0 {
		if k.InstanceID == "" {
			return APIKey{}, domain.Errorf(domain.ErrInvalidField, "a credential bound to an operator needs an instance")
		}
		var one int
		err := t.pool.QueryRow(ctx, `SELECT 1 FROM operators WHERE instance_id = $1 AND operator_id = $2`, k.InstanceID, spec.OperatorID).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return APIKey{}, domain.Errorf(domain.ErrOperatorNotFound, "operator %d is not an operator of %s", spec.OperatorID, k.InstanceAlias)
		}
		if err != nil {
			return APIKey{}, fmt.Errorf("find operator: %w", err)
		}
	}
	if spec.ExpiresIn > 0 {
		exp := k.CreatedAt.Add(spec.ExpiresIn)
		k.ExpiresAt = &exp
	}
	var secretSealed, secretNonce []byte
	if sealed != nil {
		if secretSealed, secretNonce, err = sealed(k.ID); err != nil {
			return APIKey{}, err
		}
	}
	texts := make([]string, len(cidrs))
	for i, p := range cidrs {
		texts[i] = p.String()
	}
	_, err = t.pool.Exec(ctx, `INSERT INTO api_keys (key_id, key_hash, owner_id, scopes, created_at, kind, public_id, name,
		instance_id, expires_at, allowed_cidrs, rate_per_second, operator_id, secret_sealed, secret_nonce)
		VALUES ($1, $2, $3, $4, $5, $6, nullif($7, ''), $8, nullif($9, ''), $10, $11, nullif($12, 0::float8), nullif($13, 0::bigint), $14, $15)`,
		k.ID, hash, k.OwnerID, k.Scopes, k.CreatedAt, kind, publicID, k.Name, k.InstanceID, k.ExpiresAt, texts,
		k.RatePerSecond, k.OperatorID, secretSealed, secretNonce)
	if err != nil {
		return APIKey{}, fmt.Errorf("create credential: %w", err)
	}
	return k, nil
}

// CreateCredentialAPIKey makes an API key as spec says; the secret is returned once.
func (t *Tenancy) CreateCredentialAPIKey(ctx context.Context, spec CredentialSpec) (string, APIKey, error) {
	secret := "sk_" + domain.RandomID("", t.random) + domain.RandomID("", t.random)
	hash := sha256.Sum256([]byte(secret))
	k, err := t.createCredential(ctx, KindAPIKey, "", spec, hash[:], nil)
	return secret, k, err
}

// CreateOAuthClient makes an OAuth2 client of an instance: its client id and
// secret (returned once; only a hash is stored).
func (t *Tenancy) CreateOAuthClient(ctx context.Context, spec CredentialSpec) (clientID, secret string, k APIKey, err error) {
	if spec.InstanceAlias == "" {
		return "", "", APIKey{}, domain.Errorf(domain.ErrMissingField, "an OAuth2 client belongs to an instance: give its alias")
	}
	clientID = "soc_" + domain.RandomID("", t.random)
	secret = "socs_" + domain.RandomID("", t.random) + domain.RandomID("", t.random)
	hash := sha256.Sum256([]byte(secret))
	k, err = t.createCredential(ctx, KindOAuthClient, clientID, spec, hash[:], nil)
	return clientID, secret, k, err
}

// CreateSigningKey makes a signing key of an instance: its access key and
// secret (returned once; stored encrypted, since signatures are recomputed).
func (t *Tenancy) CreateSigningKey(ctx context.Context, spec CredentialSpec) (accessKey, secret string, k APIKey, err error) {
	if spec.InstanceAlias == "" {
		return "", "", APIKey{}, domain.Errorf(domain.ErrMissingField, "a signing key belongs to an instance: give its alias")
	}
	if err := t.box.keyErr; err != nil {
		return "", "", APIKey{}, err
	}
	accessKey = "AK" + strings.ToUpper(domain.RandomID("", t.random))
	secret = "sss_" + domain.RandomID("", t.random) + domain.RandomID("", t.random)
	hash := sha256.Sum256([]byte(secret))
	k, err = t.createCredential(ctx, KindSigningKey, accessKey, spec, hash[:], func(keyID string) ([]byte, []byte, error) {
		return t.box.seal([]byte(secret), signingAD(keyID))
	})
	return accessKey, secret, k, err
}

func signingAD(keyID string) []byte { return []byte("signing_key\x00" + keyID) }

// APIKeyBySecret finds a live API key by its secret: ErrKeyNotFound when
// there is none or it was revoked, ErrCredentialExpired when it expired.
// The lookup is by hash, so no comparison of secrets happens here at all.
func (t *Tenancy) APIKeyBySecret(ctx context.Context, secret string) (APIKey, error) {
	if !strings.HasPrefix(secret, "sk_") || len(secret) > 200 {
		return APIKey{}, ErrKeyNotFound
	}
	hash := sha256.Sum256([]byte(secret))
	return t.liveCredential(ctx, "h:"+string(hash[:]), `k.key_hash = $1 AND k.kind = 'api_key'`, hash[:])
}

// liveCredential reads a credential (through the short cache) and refuses a
// revoked or expired one.
func (t *Tenancy) liveCredential(ctx context.Context, cacheKey, where string, arg any) (APIKey, error) {
	k, ok := t.keys.get(cacheKey)
	if !ok {
		var err error
		k, err = scanCredential(t.pool.QueryRow(ctx, `SELECT `+credentialColumns+credentialFrom+` WHERE `+where, arg))
		if errors.Is(err, pgx.ErrNoRows) {
			return APIKey{}, ErrKeyNotFound
		}
		if err != nil {
			return APIKey{}, fmt.Errorf("find credential: %w", err)
		}
		t.keys.put(cacheKey, k)
		t.touch(ctx, k)
	}
	if k.RevokedAt != nil {
		return APIKey{}, ErrKeyNotFound
	}
	if k.ExpiresAt != nil && !time.Now().Before(*k.ExpiresAt) {
		return APIKey{}, ErrCredentialExpired
	}
	return k, nil
}

// touch records a use at most once a minute per credential.
func (t *Tenancy) touch(ctx context.Context, k APIKey) {
	if k.RevokedAt != nil || (k.LastUsedAt != nil && time.Since(*k.LastUsedAt) < time.Minute) {
		return
	}
	if _, err := t.pool.Exec(ctx, `UPDATE api_keys SET last_used_at = now() WHERE key_id = $1
		AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`, k.ID); err != nil {
		// A missed last-used time is not worth failing a request over.
		return
	}
}

// CredentialByPublicID finds a live OAuth2 client or signing key by its
// public id (client id, access key).
func (t *Tenancy) CredentialByPublicID(ctx context.Context, kind, publicID string) (APIKey, error) {
	if publicID == "" || len(publicID) > 100 {
		return APIKey{}, ErrKeyNotFound
	}
	return t.liveCredential(ctx, "p:"+kind+":"+publicID, `k.public_id = $1 AND k.kind = '`+kind+`'`, publicID)
}

// CheckClientSecret tells whether secret is the OAuth2 client's.
func (t *Tenancy) CheckClientSecret(ctx context.Context, k APIKey, secret string) (bool, error) {
	hash := sha256.Sum256([]byte(secret))
	var one int
	err := t.pool.QueryRow(ctx, `SELECT 1 FROM api_keys WHERE key_id = $1 AND key_hash = $2`, k.ID, hash[:]).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// SigningSecret is the decrypted secret of a signing key.
func (t *Tenancy) SigningSecret(ctx context.Context, k APIKey) ([]byte, error) {
	if s, ok := t.secrets.get("sign:" + k.ID); ok {
		return []byte(s), nil
	}
	var sealed, nonce []byte
	if err := t.pool.QueryRow(ctx, `SELECT secret_sealed, secret_nonce FROM api_keys WHERE key_id = $1`, k.ID).Scan(&sealed, &nonce); err != nil {
		return nil, fmt.Errorf("read signing key: %w", err)
	}
	plain, err := t.box.open(sealed, nonce, signingAD(k.ID))
	if err != nil {
		return nil, fmt.Errorf("open signing key %s: %w", k.ID, err)
	}
	t.secrets.put("sign:"+k.ID, string(plain))
	return plain, nil
}

// ListCredentials lists an owner's credentials (never their secrets), newest
// first; alias narrows them to one instance's (and the owner-wide ones).
func (t *Tenancy) ListCredentials(ctx context.Context, ownerID, alias string) ([]APIKey, error) {
	rows, err := t.pool.Query(ctx, `SELECT `+credentialColumns+credentialFrom+`
		WHERE k.owner_id = $1 AND ($2 = '' OR i.alias = $2 OR k.instance_id IS NULL)
		ORDER BY k.created_at DESC, k.key_id`, ownerID, alias)
	if err != nil {
		return nil, fmt.Errorf("list credentials: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (APIKey, error) { return scanCredential(r) })
}

// CredentialByID reads one credential, live or not.
func (t *Tenancy) CredentialByID(ctx context.Context, id string) (APIKey, error) {
	k, err := scanCredential(t.pool.QueryRow(ctx, `SELECT `+credentialColumns+credentialFrom+` WHERE k.key_id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return APIKey{}, domain.Errorf(ErrCredentialMissing, "no credential %q", id)
	}
	return k, err
}

// RevokeCredential revokes a credential (and a client's access tokens) at
// once; revoking twice is a no-op. Other processes refuse it within
// credentialTTL.
func (t *Tenancy) RevokeCredential(ctx context.Context, id string) (APIKey, error) {
	if _, err := t.pool.Exec(ctx, `UPDATE api_keys SET revoked_at = now() WHERE key_id = $1 AND revoked_at IS NULL`, id); err != nil {
		return APIKey{}, fmt.Errorf("revoke credential: %w", err)
	}
	if _, err := t.pool.Exec(ctx, `DELETE FROM oauth_tokens WHERE key_id = $1`, id); err != nil {
		return APIKey{}, fmt.Errorf("revoke access tokens: %w", err)
	}
	t.keys.clear()
	return t.CredentialByID(ctx, id)
}

// RotateAPIKey replaces an API key by a new one with the same settings and
// revokes the old one, in one transaction; the new secret is returned once.
func (t *Tenancy) RotateAPIKey(ctx context.Context, id string) (string, APIKey, error) {
	old, err := t.CredentialByID(ctx, id)
	if err != nil {
		return "", APIKey{}, err
	}
	if old.Kind != KindAPIKey {
		return "", APIKey{}, domain.Errorf(domain.ErrInvalidField, "only API keys rotate; create a new %s and revoke this one", old.Kind)
	}
	if old.RevokedAt != nil {
		return "", APIKey{}, domain.Errorf(ErrCredentialMissing, "credential %s is revoked", id)
	}
	secret := "sk_" + domain.RandomID("", t.random) + domain.RandomID("", t.random)
	hash := sha256.Sum256([]byte(secret))
	newID := domain.RandomID("sokey_", t.random)
	err = pgx.BeginFunc(ctx, t.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE api_keys SET revoked_at = now() WHERE key_id = $1 AND revoked_at IS NULL`, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return domain.Errorf(ErrCredentialMissing, "credential %s is revoked", id)
		}
		_, err = tx.Exec(ctx, `INSERT INTO api_keys (key_id, key_hash, owner_id, scopes, kind, name, instance_id, expires_at,
			allowed_cidrs, rate_per_second, operator_id)
			SELECT $2, $3, owner_id, scopes, kind, name, instance_id, expires_at, allowed_cidrs, rate_per_second, operator_id
			FROM api_keys WHERE key_id = $1`, id, newID, hash[:])
		return err
	})
	if err != nil {
		return "", APIKey{}, err
	}
	t.keys.clear()
	k, err := t.CredentialByID(ctx, newID)
	return secret, k, err
}

// IssueAccessToken stores a new access token for an OAuth2 client, with the
// granted scopes, valid for ttl; the token is returned once.
func (t *Tenancy) IssueAccessToken(ctx context.Context, client APIKey, scopes []string, ttl time.Duration) (string, time.Time, error) {
	token := "sat_" + domain.RandomID("", t.random) + domain.RandomID("", t.random)
	hash := sha256.Sum256([]byte(token))
	exp := time.Now().Add(ttl).UTC()
	if client.ExpiresAt != nil && client.ExpiresAt.Before(exp) {
		exp = *client.ExpiresAt
	}
	if _, err := t.pool.Exec(ctx, `INSERT INTO oauth_tokens (token_hash, key_id, scopes, expires_at) VALUES ($1, $2, $3, $4)`,
		hash[:], client.ID, scopes, exp); err != nil {
		return "", time.Time{}, fmt.Errorf("issue access token: %w", err)
	}
	// Expired tokens are of no use: sweep a few now and then.
	if hash[0] == 0 {
		_, _ = t.pool.Exec(ctx, `DELETE FROM oauth_tokens WHERE expires_at < now() - interval '1 hour'`)
	}
	return token, exp, nil
}

// CredentialByAccessToken finds the client of a live access token; the
// credential it returns carries the token's scopes.
func (t *Tenancy) CredentialByAccessToken(ctx context.Context, token string) (APIKey, error) {
	if !strings.HasPrefix(token, "sat_") || len(token) > 200 {
		return APIKey{}, ErrKeyNotFound
	}
	hash := sha256.Sum256([]byte(token))
	var keyID string
	var scopes []string
	var exp time.Time
	err := t.pool.QueryRow(ctx, `SELECT key_id, scopes, expires_at FROM oauth_tokens WHERE token_hash = $1`, hash[:]).Scan(&keyID, &scopes, &exp)
	if errors.Is(err, pgx.ErrNoRows) {
		return APIKey{}, ErrKeyNotFound
	}
	if err != nil {
		return APIKey{}, fmt.Errorf("find access token: %w", err)
	}
	if !time.Now().Before(exp) {
		return APIKey{}, domain.Errorf(ErrCredentialExpired, "the access token has expired; ask /oauth/token for a new one")
	}
	k, err := t.liveCredential(ctx, "id:"+keyID, `k.key_id = $1`, keyID)
	if err != nil {
		return APIKey{}, err
	}
	k.Scopes = scopes
	return k, nil
}

// UseNonce records a signed request's nonce until expires; false when the
// nonce was seen already (a replay), on this process or any other.
func (t *Tenancy) UseNonce(ctx context.Context, keyID, nonce string, expires time.Time) (bool, error) {
	tag, err := t.pool.Exec(ctx, `INSERT INTO request_nonces (key_id, nonce, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (key_id, nonce) DO UPDATE SET expires_at = excluded.expires_at
		WHERE request_nonces.expires_at < now()`, keyID, nonce, expires)
	if err != nil {
		return false, fmt.Errorf("record nonce: %w", err)
	}
	if sha256.Sum256([]byte(nonce))[0] == 0 {
		_, _ = t.pool.Exec(ctx, `DELETE FROM request_nonces WHERE expires_at < now()`)
	}
	return tag.RowsAffected() == 1, nil
}

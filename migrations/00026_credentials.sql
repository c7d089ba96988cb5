-- +goose Up
-- Every credential of the integration interface is a row of api_keys, so
-- scope, instance, expiry, operator binding, IP allowlist, rate limit and
-- revocation mean the same for each kind:
--   api_key       the bearer secret itself is the credential (key_hash);
--   oauth_client  client_id (public_id) + secret (key_hash), exchanged at
--                 POST /oauth/token for short-lived access tokens;
--   signing_key   access key (public_id) + secret, kept encrypted (the
--                 server needs it to recompute HMAC signatures).
ALTER TABLE api_keys
    ADD COLUMN kind           text NOT NULL DEFAULT 'api_key'
        CHECK (kind IN ('api_key', 'oauth_client', 'signing_key')),
    ADD COLUMN public_id      text UNIQUE,
    ADD COLUMN name           text NOT NULL DEFAULT '',
    ADD COLUMN instance_id    text REFERENCES instances (instance_id),
    ADD COLUMN expires_at     timestamptz,
    ADD COLUMN last_used_at   timestamptz,
    ADD COLUMN allowed_cidrs  text[] NOT NULL DEFAULT '{}',
    ADD COLUMN rate_per_second double precision CHECK (rate_per_second IS NULL OR rate_per_second > 0),
    ADD COLUMN operator_id    bigint,
    ADD COLUMN secret_sealed  bytea,
    ADD COLUMN secret_nonce   bytea;
CREATE INDEX api_keys_owner ON api_keys (owner_id, created_at);

-- OAuth2 access tokens: only a hash; a revoked client's tokens die with it.
CREATE TABLE oauth_tokens (
    token_hash bytea       PRIMARY KEY,
    key_id     text        NOT NULL REFERENCES api_keys (key_id),
    scopes     text[]      NOT NULL,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX oauth_tokens_expiry ON oauth_tokens (expires_at);

-- Nonces of signed requests seen within the timestamp window; the primary
-- key makes a replay fail on every process at once.
CREATE TABLE request_nonces (
    key_id     text        NOT NULL,
    nonce      text        NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (key_id, nonce)
);
CREATE INDEX request_nonces_expiry ON request_nonces (expires_at);

-- +goose Down
DROP TABLE request_nonces;
DROP TABLE oauth_tokens;
DROP INDEX api_keys_owner;
ALTER TABLE api_keys
    DROP COLUMN kind, DROP COLUMN public_id, DROP COLUMN name, DROP COLUMN instance_id,
    DROP COLUMN expires_at, DROP COLUMN last_used_at, DROP COLUMN allowed_cidrs,
    DROP COLUMN rate_per_second, DROP COLUMN operator_id, DROP COLUMN secret_sealed, DROP COLUMN secret_nonce;

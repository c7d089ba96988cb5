-- +goose Up
-- Configuration rows, not events: instances, API keys and webhook secrets
-- are settings an operator manages, not history of the inbox.
CREATE TABLE instances (
    instance_id text        PRIMARY KEY,
    alias       text        NOT NULL UNIQUE,
    owner_id    text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX instances_owner ON instances (owner_id);

-- Only a SHA-256 of each key is stored; the key is shown once at creation.
CREATE TABLE api_keys (
    key_id     text        PRIMARY KEY,
    key_hash   bytea       NOT NULL UNIQUE,
    owner_id   text        NOT NULL,
    scopes     text[]      NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

CREATE TABLE webhook_secrets (
    instance_id text        NOT NULL REFERENCES instances (instance_id),
    provider    text        NOT NULL,
    secret      text        NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (instance_id, provider)
);

-- +goose Down
DROP TABLE webhook_secrets;
DROP TABLE api_keys;
DROP TABLE instances;

-- +goose Up
-- Bots of an instance (seed 001): configuration rows, like webhook
-- subscriptions. Only a SHA-256 of the bot token is stored; the secret its
-- pushes are signed with (Standard Webhooks, whsec_…) is AES-256-GCM
-- ciphertext under SOCIALOPS_ENCRYPTION_KEY. A deleted bot keeps its row
-- (its messages name it) with deleted_at set.
CREATE TABLE bots (
    bot_id        text        PRIMARY KEY,
    instance_id   text        NOT NULL REFERENCES instances (instance_id),
    name          text        NOT NULL,
    token_hash    bytea       NOT NULL UNIQUE,
    webhook_url   text        NOT NULL,
    events        text[]      NOT NULL,
    mode          text        NOT NULL CHECK (mode IN ('first', 'observer')),
    include_token boolean     NOT NULL DEFAULT false,
    secret_sealed bytea       NOT NULL,
    secret_nonce  bytea       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    deleted_at    timestamptz
);
CREATE UNIQUE INDEX bots_live_name ON bots (instance_id, lower(name)) WHERE deleted_at IS NULL;

-- +goose Down
DROP TABLE bots;

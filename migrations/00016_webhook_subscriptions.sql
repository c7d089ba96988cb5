-- +goose Up
-- Outbound webhook subscriptions are configuration rows. The signing secret
-- ("whsec_" + base64) is stored only as AES-256-GCM ciphertext (key:
-- SOCIALOPS_ENCRYPTION_KEY, additional data: subscription id and slot), never
-- in clear. During a rotation the previous secret signs too, until
-- previous_expires_at.
CREATE TABLE webhook_subscriptions (
    subscription_id     text        PRIMARY KEY CHECK (subscription_id LIKE 'whsub\_%'),
    instance_id         text        NOT NULL REFERENCES instances (instance_id),
    url                 text        NOT NULL,
    events              text[]      NOT NULL DEFAULT '{}', -- empty: every event
    description         text        NOT NULL DEFAULT '',
    enabled             boolean     NOT NULL DEFAULT true,
    disabled_reason     text        NOT NULL DEFAULT '',
    -- Only events after this log position are delivered (the head at creation).
    start_position      bigint      NOT NULL DEFAULT 0,
    secret_ciphertext   bytea       NOT NULL,
    secret_nonce        bytea       NOT NULL CHECK (octet_length(secret_nonce) = 12),
    previous_ciphertext bytea,
    previous_nonce      bytea       CHECK (previous_nonce IS NULL OR octet_length(previous_nonce) = 12),
    previous_expires_at timestamptz,
    -- The first failure since the last success; NULL while healthy.
    failing_since       timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK ((previous_ciphertext IS NULL) = (previous_nonce IS NULL))
);
CREATE INDEX webhook_subscriptions_instance ON webhook_subscriptions (instance_id, created_at);

-- +goose Down
DROP TABLE webhook_subscriptions;

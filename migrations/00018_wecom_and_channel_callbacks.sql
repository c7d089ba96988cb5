-- +goose Up
-- WeCom callback and sending settings per instance (issue 14). The corp id
-- and agent id are not secret; the callback token, the EncodingAESKey and the
-- app secret are one JSON document stored only as AES-256-GCM ciphertext (key:
-- SOCIALOPS_ENCRYPTION_KEY, additional data naming the row), never in clear.
CREATE TABLE wecom_settings (
    instance_id         text        PRIMARY KEY REFERENCES instances (instance_id),
    corp_id             text        NOT NULL,
    agent_id            bigint      NOT NULL,
    secrets_ciphertext  bytea       NOT NULL,
    secrets_nonce       bytea       NOT NULL,
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- Nonces of signed channel callbacks (/channel/{channelType}/callback) seen
-- within the timestamp window: a nonce is accepted once per instance and
-- channel type, whichever process receives it. Rows past expires_at are
-- deleted as new nonces arrive.
CREATE TABLE channel_callback_nonces (
    instance_id  text        NOT NULL,
    channel_type text        NOT NULL,
    nonce        text        NOT NULL,
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (instance_id, channel_type, nonce)
);
CREATE INDEX channel_callback_nonces_expiry ON channel_callback_nonces (expires_at);

-- +goose Down
DROP TABLE channel_callback_nonces;
DROP TABLE wecom_settings;

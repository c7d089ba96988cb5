-- +goose Up
-- Connected accounts are configuration rows, not events: the credentials a
-- provider adapter sends with (a Telegram bot token, for now). The token is
-- stored only as AES-256-GCM ciphertext (key: SOCIALOPS_ENCRYPTION_KEY,
-- additional data: the account id), never in clear.
CREATE TABLE connected_accounts (
    account_id       text        PRIMARY KEY CHECK (account_id LIKE 'conn\_%'),
    owner_id         text        NOT NULL,
    provider         text        NOT NULL,
    status           text        NOT NULL CHECK (status IN ('active', 'inactive')),
    token_ciphertext bytea       NOT NULL,
    token_nonce      bytea       NOT NULL CHECK (octet_length(token_nonce) = 12),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX connected_accounts_owner ON connected_accounts (owner_id, created_at);

-- +goose Down
DROP TABLE connected_accounts;

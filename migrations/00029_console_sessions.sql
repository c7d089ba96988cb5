-- +goose Up
-- The web console's browser sessions (adapters/console): the cookie holds a
-- random id, stored here only as its SHA-256, so a copy of this table signs
-- no one in. A sign-out stamps signed_out_at; rows past their expiry are
-- deleted as new sessions open.
CREATE TABLE console_sessions (
    id_hash       bytea PRIMARY KEY,
    user_id       text        NOT NULL,
    permissions   text[]      NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    signed_out_at timestamptz
);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);

-- One-time sign-in links (`socialops console link`): a link's id is recorded
-- when it is used, so a second use is refused, on any server process.
CREATE TABLE console_link_uses (
    link_id    text PRIMARY KEY,
    user_id    text        NOT NULL,
    used_at    timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE console_link_uses;
DROP TABLE console_sessions;

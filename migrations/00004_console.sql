-- +goose Up
-- Outbound and internal messages carry their reply action and delivery state.
ALTER TABLE thread_messages
    ADD COLUMN action_id       text,
    ADD COLUMN delivery_status text,
    ADD COLUMN failure_reason  text;

-- Read model of send_reply actions (projector "actions").
CREATE TABLE reply_actions (
    action_id     text        PRIMARY KEY,
    thread_id     text        NOT NULL,
    instance_id   text        NOT NULL,
    message_id    text        NOT NULL,
    action_type   text        NOT NULL,
    status        text        NOT NULL,
    attempts      integer     NOT NULL DEFAULT 0,
    error_code    text,
    error_message text,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    position      bigint      NOT NULL
);
CREATE INDEX reply_actions_thread ON reply_actions (thread_id, created_at, action_id);
CREATE INDEX reply_actions_status ON reply_actions (status, updated_at);

-- Read model of channel bindings (projector "channels"). No token is ever stored here.
CREATE TABLE channels (
    channel_id           text        PRIMARY KEY,
    instance_id          text        NOT NULL,
    owner_id             text        NOT NULL,
    provider             text        NOT NULL,
    connected_account_id text        NOT NULL,
    channel_name         text        NOT NULL,
    external_channel_id  text        NOT NULL,
    parse_mode           text        NOT NULL,
    status               text        NOT NULL,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL
);
CREATE INDEX channels_instance ON channels (instance_id, created_at, channel_id);

-- Idempotency-Key of console and API replies: the same key from the same user
-- within 24 hours names the first reply. Command-side bookkeeping, not a read model.
CREATE TABLE idempotency_keys (
    user_id     text        NOT NULL,
    key         text        NOT NULL,
    thread_id   text        NOT NULL,
    message_id  text        NOT NULL,
    action_id   text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);

-- +goose Down
DROP TABLE idempotency_keys;
DROP TABLE channels;
DROP TABLE reply_actions;
ALTER TABLE thread_messages DROP COLUMN action_id, DROP COLUMN delivery_status, DROP COLUMN failure_reason;

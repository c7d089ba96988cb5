-- +goose Up
-- Read models, written only by projectors (projections/). Every row is a
-- function of the event log: a rebuild from position 0 gives the same rows.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- One row per projector: the last log position whose effect is in its tables,
-- written in the same transaction as the read-model change.
CREATE TABLE projection_checkpoints (
    projector  text        PRIMARY KEY,
    position   bigint      NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE inbox_threads (
    thread_id            text        PRIMARY KEY,
    instance_id          text        NOT NULL,
    owner_id             text        NOT NULL,
    provider             text        NOT NULL,
    subject              text        NOT NULL,
    status               text        NOT NULL,
    priority             text        NOT NULL,
    assignee             text,
    labels               text[]      NOT NULL DEFAULT '{}',
    last_message_preview text        NOT NULL DEFAULT '',
    last_message_at      timestamptz NOT NULL,
    message_count        integer     NOT NULL DEFAULT 0,
    ai_summary           text        NOT NULL DEFAULT '',
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    last_position        bigint      NOT NULL
);
-- The inbox lists an instance's threads by latest activity; the keyset cursor
-- is (last_message_at, thread_id).
CREATE INDEX inbox_threads_recent ON inbox_threads (instance_id, last_message_at DESC, thread_id DESC);
CREATE INDEX inbox_threads_status_priority ON inbox_threads (instance_id, status, priority, last_message_at DESC, thread_id DESC);
CREATE INDEX inbox_threads_provider ON inbox_threads (instance_id, provider, last_message_at DESC, thread_id DESC);
CREATE INDEX inbox_threads_search ON inbox_threads USING gin ((lower(subject || ' ' || ai_summary)) gin_trgm_ops);

CREATE TABLE thread_messages (
    message_id      text        PRIMARY KEY,
    thread_id       text        NOT NULL,
    direction       text        NOT NULL,
    message_type    text        NOT NULL,
    text            text        NOT NULL,
    sender_display  text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    position        bigint      NOT NULL
);
CREATE INDEX thread_messages_thread ON thread_messages (thread_id, position);

CREATE TABLE wallet_balances (
    owner_id          text   PRIMARY KEY,
    balance_micro_usd bigint NOT NULL,
    updated_at        timestamptz NOT NULL
);

CREATE TABLE wallet_ledger (
    entry_id          text        PRIMARY KEY,
    owner_id          text        NOT NULL,
    kind              text        NOT NULL,
    amount_micro_usd  bigint      NOT NULL,
    reason            text        NOT NULL DEFAULT '',
    thread_id         text,
    message_id        text,
    action_id         text,
    reverses_entry_id text,
    created_at        timestamptz NOT NULL,
    position          bigint      NOT NULL
);
CREATE INDEX wallet_ledger_owner ON wallet_ledger (owner_id, position DESC);

-- +goose Down
DROP TABLE wallet_ledger;
DROP TABLE wallet_balances;
DROP TABLE thread_messages;
DROP TABLE inbox_threads;
DROP TABLE projection_checkpoints;

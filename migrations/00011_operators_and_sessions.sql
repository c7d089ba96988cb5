-- +goose Up
-- Read models of operators, sessions and contacts, written only by their
-- projectors (projections/operators.go, projections/sessions.go).
CREATE TABLE operators (
    instance_id   text        NOT NULL,
    operator_id   bigint      NOT NULL,
    name          text        NOT NULL,
    status        smallint    NOT NULL,
    capacity      integer     NOT NULL,
    presence      text        NOT NULL,
    open_sessions integer     NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (instance_id, operator_id)
);

-- One row per thread with a session; queued_position orders the queue
-- (oldest first): the log position at which the session became pending.
CREATE TABLE sessions (
    thread_id       text        PRIMARY KEY,
    instance_id     text        NOT NULL,
    provider        text        NOT NULL,
    contact_id      text        NOT NULL,
    status          text        NOT NULL,
    operator_id     bigint,
    queued_position bigint      NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX sessions_queue ON sessions (instance_id, status, queued_position);
CREATE INDEX sessions_operator ON sessions (instance_id, operator_id) WHERE operator_id IS NOT NULL;

CREATE TABLE contacts (
    contact_id    text        PRIMARY KEY,
    instance_id   text        NOT NULL,
    provider      text        NOT NULL,
    display_name  text        NOT NULL DEFAULT '',
    first_seen_at timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL
);

-- Who wrote each message: the contact for inbound ones, the author otherwise.
ALTER TABLE thread_messages ADD COLUMN sender_id text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE thread_messages DROP COLUMN sender_id;
DROP TABLE contacts;
DROP TABLE sessions;
DROP TABLE operators;

-- +goose Up
-- The outbound webhook dispatcher's durable state (adapters/webhooks).

-- Which instance each thread belongs to, learnt from ThreadOpened in log
-- order, so events that name only their thread are routed without waiting
-- for a read model.
CREATE TABLE webhook_threads (
    thread_id   text PRIMARY KEY,
    instance_id text NOT NULL
);

-- One row per public event sent to at least one subscription: the exact
-- body, stored once and sent byte for byte on every attempt.
CREATE TABLE webhook_messages (
    event_id    text        PRIMARY KEY,
    instance_id text        NOT NULL,
    event_type  text        NOT NULL,
    position    bigint      NOT NULL, -- 0 for test events
    payload     bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per (event, subscription). delivery_id is the webhook-id header: a
-- deterministic function of both, so a crash and a replay never make a second
-- delivery of one event to one endpoint.
CREATE TABLE webhook_deliveries (
    delivery_id        text        PRIMARY KEY,
    subscription_id    text        NOT NULL REFERENCES webhook_subscriptions (subscription_id) ON DELETE CASCADE,
    event_id           text        NOT NULL REFERENCES webhook_messages (event_id),
    event_type         text        NOT NULL,
    status             text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed', 'exhausted')),
    attempts           int         NOT NULL DEFAULT 0,
    scheduled_attempts int         NOT NULL DEFAULT 0, -- attempts made by the schedule (not resends)
    manual             boolean     NOT NULL DEFAULT false, -- the next attempt is a resend
    next_attempt_at    timestamptz NOT NULL DEFAULT now(),
    lease_owner        text,
    lease_until        timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (subscription_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (subscription_id, next_attempt_at)
    WHERE status IN ('pending', 'failed');
CREATE INDEX webhook_deliveries_list ON webhook_deliveries (subscription_id, created_at DESC, delivery_id DESC);

-- Every attempt: when, the answer's status and first 4 KiB, how long, or the error.
CREATE TABLE webhook_attempts (
    attempt_id      bigserial   PRIMARY KEY,
    delivery_id     text        NOT NULL REFERENCES webhook_deliveries (delivery_id) ON DELETE CASCADE,
    attempted_at    timestamptz NOT NULL,
    trigger         text        NOT NULL CHECK (trigger IN ('scheduled', 'manual')),
    status_code     int,
    response_body   text        NOT NULL DEFAULT '',
    duration_ms     double precision NOT NULL,
    error           text        NOT NULL DEFAULT '',
    succeeded       boolean     NOT NULL
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, attempt_id);

-- +goose Down
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_messages;
DROP TABLE webhook_threads;

-- +goose Up
-- Bots of an instance (seed 001): configuration rows, like webhook
-- subscriptions. The token is found by its SHA-256 (and kept AES-256-GCM
-- encrypted only to put it in pushes when include_token is on). A deleted
-- bot keeps its row (its messages name it) with deleted_at set.
CREATE TABLE bots (
    bot_id        text        PRIMARY KEY,
    instance_id   text        NOT NULL REFERENCES instances (instance_id),
    name          text        NOT NULL,
    token_hash    bytea       NOT NULL UNIQUE,
    webhook_url   text        NOT NULL,
    events        text[]      NOT NULL,
    mode          text        NOT NULL CHECK (mode IN ('first', 'observer')),
    include_token boolean     NOT NULL DEFAULT false,
    -- A customer writing one of these in a session the bot has asks for a
    -- person; a bot silent this long after a customer's message hands off.
    handoff_keywords       text[]  NOT NULL DEFAULT '{人工,human,agent}',
    answer_timeout_seconds integer NOT NULL DEFAULT 60 CHECK (answer_timeout_seconds BETWEEN 1 AND 86400),
    -- The bot's pushes go through its own (hidden) webhook subscription:
    -- the same signing, retries and delivery log as outbound webhooks.
    subscription_id text      UNIQUE, -- NULL for a model bot (it gets no pushes)
    -- kind webhook: an external bot behind webhook_url; kind model: the
    -- built-in bot answering with the configured model (issue 19).
    kind          text        NOT NULL DEFAULT 'webhook' CHECK (kind IN ('webhook', 'model')),
    system_prompt text        NOT NULL DEFAULT '',
    faq           text        NOT NULL DEFAULT '',
    model         text        NOT NULL DEFAULT '', -- '' for SOCIALOPS_AI_MODEL
    max_turns     integer     NOT NULL DEFAULT 5 CHECK (max_turns BETWEEN 1 AND 100),
    -- The token, encrypted, for bots whose pushes carry it (include_token).
    token_sealed  bytea       NOT NULL,
    token_nonce   bytea       NOT NULL,
    -- The version header of the bot's last call, echoed in its pushes.
    api_version   text        NOT NULL DEFAULT '1',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    deleted_at    timestamptz
);
CREATE UNIQUE INDEX bots_live_name ON bots (instance_id, lower(name)) WHERE deleted_at IS NULL;
-- The sessions bots have, for the answer-timeout sweep.
CREATE INDEX sessions_ai ON sessions (instance_id) WHERE status = 'ai';

ALTER TABLE webhook_subscriptions ADD COLUMN bot_id text;

-- +goose Down
ALTER TABLE webhook_subscriptions DROP COLUMN bot_id;
DROP INDEX sessions_ai;
DROP TABLE bots;

-- +goose Up
-- The assistant follower's own state: when each thread was last summarized
-- (its message count and status then), so it summarizes again after N more
-- messages or a status change.
CREATE TABLE thread_summaries (
    thread_id     text        PRIMARY KEY,
    instance_id   text        NOT NULL,
    message_count integer     NOT NULL,
    status        text        NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- When the bot got the session's current cycle (state ai), to count the
-- built-in bot's turns in it.
ALTER TABLE sessions ADD COLUMN ai_since timestamptz;

-- Per-instance AI settings: another model than SOCIALOPS_AI_MODEL, or no
-- model calls at all for the instance (summaries extractive).
ALTER TABLE instances ADD COLUMN ai_model text NOT NULL DEFAULT '',
    ADD COLUMN ai_disabled boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE instances DROP COLUMN ai_model, DROP COLUMN ai_disabled;
ALTER TABLE sessions DROP COLUMN ai_since;
DROP TABLE thread_summaries;

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

-- +goose Down
DROP TABLE thread_summaries;

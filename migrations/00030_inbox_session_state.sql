-- +goose Up
-- The inbox keeps each thread's session state itself (the inbox projector
-- applies the session events as the sessions projector does), so the
-- console's session_state filter is an index range in inbox order instead
-- of a probe of the sessions read model per thread. Existing rows take the
-- sessions read model's state; `projections verify inbox` checks them.
ALTER TABLE inbox_threads ADD COLUMN session_state text;
UPDATE inbox_threads t SET session_state = s.status FROM sessions s WHERE s.thread_id = t.thread_id;
CREATE INDEX inbox_threads_session ON inbox_threads (instance_id, session_state, last_message_at DESC, thread_id DESC)
    WHERE session_state IS NOT NULL;

-- +goose Down
DROP INDEX inbox_threads_session;
ALTER TABLE inbox_threads DROP COLUMN session_state;

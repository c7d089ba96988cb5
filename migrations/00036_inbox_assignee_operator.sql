-- +goose Up
-- The inbox's assignee and operator filters as index ranges (issue 21).
-- Neither had an index of its own: an assignee filter read the instance's
-- rows in inbox order and checked each (on an instance of 60,000 threads,
-- 30-60 ms a page and more for its total), and an operator filter (every
-- inbox page of a credential bound to an operator) read the operator's
-- sessions and then each of their threads, to sort them (15,000 sessions:
-- 80-110 ms a page).
--   * The inbox keeps the operator of each thread's session itself,
--     session_operator, as it keeps the session's state since 00030: the
--     inbox projector applies the session events as the sessions projector
--     does (assigned and accepted set it; queued, reopened and a bot's
--     handling clear it; a close keeps who held it). Existing rows take the
--     sessions read model's operator; `projections verify inbox` checks them
--     (had the two projectors stood at different positions when this ran,
--     `projections rebuild inbox` makes the inbox exact).
--   * Two partial indexes in inbox order, over the rows that have a value:
--     a message to a thread without an assignee or operator writes no entry
--     in them.
--   * The inbox's page reads the operator from its own row, so it no longer
--     joins the sessions read model.
ALTER TABLE inbox_threads ADD COLUMN session_operator bigint;
UPDATE inbox_threads t SET session_operator = s.operator_id
  FROM sessions s WHERE s.thread_id = t.thread_id AND s.operator_id IS NOT NULL;
CREATE INDEX inbox_threads_operator ON inbox_threads (instance_id, session_operator, last_message_at DESC, thread_id DESC)
    WHERE session_operator IS NOT NULL;
CREATE INDEX inbox_threads_assignee ON inbox_threads (instance_id, assignee, last_message_at DESC, thread_id DESC)
    WHERE assignee IS NOT NULL;

-- +goose Down
DROP INDEX inbox_threads_assignee;
DROP INDEX inbox_threads_operator;
ALTER TABLE inbox_threads DROP COLUMN session_operator;

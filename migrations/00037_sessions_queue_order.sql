-- +goose Up
-- The queue's index holds its whole order (issue 21): the queue is listed
-- by (queued_position, thread_id), and the index had only the position, so
-- every entry read sent the read to the table for the thread id and the
-- order's tie-break. With the thread id in the key, a page of the queue (the
-- seed-003 list's pending sessions, the routing manager's candidates) is
-- read from the index alone, however deep. The index has the same entries
-- as before, each a thread id longer, and a session's updates write it as
-- often as before (its state and position were in it already).
CREATE INDEX sessions_queue_order ON sessions (instance_id, status, queued_position, thread_id);
DROP INDEX sessions_queue;

-- +goose Down
CREATE INDEX sessions_queue ON sessions (instance_id, status, queued_position);
DROP INDEX sessions_queue_order;

-- +goose Up
-- Keyword search runs inside one instance's threads: a stored lower-case
-- search text carried in the instance's recency index lets a search scan that
-- instance's index entries only. The trigram index it replaces covered every
-- instance and gave nothing for keywords under three characters (most Chinese
-- words), where it degenerated into reading all rows.
ALTER TABLE inbox_threads ADD COLUMN search_text text GENERATED ALWAYS AS (lower(subject || ' ' || ai_summary)) STORED;
CREATE INDEX inbox_threads_recent_search ON inbox_threads (instance_id, last_message_at DESC, thread_id DESC) INCLUDE (search_text);
DROP INDEX inbox_threads_recent;
DROP INDEX inbox_threads_search;

-- +goose Down
CREATE INDEX inbox_threads_search ON inbox_threads USING gin ((lower(subject || ' ' || ai_summary)) gin_trgm_ops);
CREATE INDEX inbox_threads_recent ON inbox_threads (instance_id, last_message_at DESC, thread_id DESC);
DROP INDEX inbox_threads_recent_search;
ALTER TABLE inbox_threads DROP COLUMN search_text;

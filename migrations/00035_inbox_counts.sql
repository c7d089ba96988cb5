-- +goose Up
-- The inbox's totals without a scan (issue 21). Every inbox page answers
-- with the number of threads its filter matches; counting them read every
-- index entry of the instance (60,000 threads: about 6 ms of one core for
-- each page shown, whatever the page). inbox_counts holds the number of an
-- instance's threads per status, priority, provider and session state (''
-- for a thread without a session), kept by triggers on inbox_threads, so
-- the total of a filter on those columns alone is a sum over at most a few
-- hundred rows. A keyword, an assignee or an operator still counts the rows.
--   * The triggers see every write, the first webhook's merged upsert
--     included; an update fires them only when a counted column changes.
--   * A count that reaches zero is deleted, so the table does not depend on
--     the path the rows took (merged or event by event, live or rebuilt).
--   * A rebuild's shadow tables get the live tables' triggers
--     (projections/rebuild.go), so the shadow counts its own rows; the
--     trigger function names inbox_counts without a schema for that.
--   * Only the inbox projector writes inbox_threads, one transaction at a
--     time, so the counts' rows are never updated in two orders at once.
CREATE TABLE inbox_counts (
    instance_id   text   NOT NULL,
    status        text   NOT NULL,
    priority      text   NOT NULL,
    provider      text   NOT NULL,
    session_state text   NOT NULL,
    threads       bigint NOT NULL CHECK (threads > 0),
    PRIMARY KEY (instance_id, status, priority, provider, session_state)
);

-- +goose StatementBegin
CREATE FUNCTION inbox_threads_counted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM inbox_counts;
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE inbox_counts c SET threads = c.threads - 1
         WHERE c.instance_id = OLD.instance_id AND c.status = OLD.status AND c.priority = OLD.priority
           AND c.provider = OLD.provider AND c.session_state = coalesce(OLD.session_state, '')
           AND c.threads > 1
        RETURNING c.threads INTO n;
        IF n IS NULL THEN
            DELETE FROM inbox_counts c
             WHERE c.instance_id = OLD.instance_id AND c.status = OLD.status AND c.priority = OLD.priority
               AND c.provider = OLD.provider AND c.session_state = coalesce(OLD.session_state, '');
        END IF;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO inbox_counts AS c (instance_id, status, priority, provider, session_state, threads)
        VALUES (NEW.instance_id, NEW.status, NEW.priority, NEW.provider, coalesce(NEW.session_state, ''), 1)
        ON CONFLICT (instance_id, status, priority, provider, session_state) DO UPDATE SET threads = c.threads + 1;
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd

CREATE TRIGGER inbox_threads_counted_insert AFTER INSERT ON inbox_threads
    FOR EACH ROW EXECUTE FUNCTION inbox_threads_counted();
CREATE TRIGGER inbox_threads_counted_update AFTER UPDATE OF instance_id, status, priority, provider, session_state ON inbox_threads
    FOR EACH ROW WHEN ((OLD.instance_id, OLD.status, OLD.priority, OLD.provider, OLD.session_state)
        IS DISTINCT FROM (NEW.instance_id, NEW.status, NEW.priority, NEW.provider, NEW.session_state))
    EXECUTE FUNCTION inbox_threads_counted();
CREATE TRIGGER inbox_threads_counted_delete AFTER DELETE ON inbox_threads
    FOR EACH ROW EXECUTE FUNCTION inbox_threads_counted();
CREATE TRIGGER inbox_threads_counted_truncate AFTER TRUNCATE ON inbox_threads
    FOR EACH STATEMENT EXECUTE FUNCTION inbox_threads_counted();

INSERT INTO inbox_counts (instance_id, status, priority, provider, session_state, threads)
SELECT instance_id, status, priority, provider, coalesce(session_state, ''), count(*)
  FROM inbox_threads GROUP BY 1, 2, 3, 4, 5;

-- +goose Down
DROP TRIGGER inbox_threads_counted_truncate ON inbox_threads;
DROP TRIGGER inbox_threads_counted_delete ON inbox_threads;
DROP TRIGGER inbox_threads_counted_update ON inbox_threads;
DROP TRIGGER inbox_threads_counted_insert ON inbox_threads;
DROP FUNCTION inbox_threads_counted();
DROP TABLE inbox_counts;

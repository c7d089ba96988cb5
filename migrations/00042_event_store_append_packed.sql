-- +goose Up
-- The batch append in one statement when every append applies, with the
-- events' bodies sliced from one bytea as their rows are inserted (issue 21).
--
-- event_store_append decided each append in a PL/pgSQL loop, one assignment
-- at a time for every append and every event, before one INSERT; and the
-- store's packed bodies (adapters/eventstore/postgres/packed.go) were rebuilt
-- into two bytea[] by the calling statement (two subqueries over every
-- offset, each sorted) and copied once more by the insert. With
-- pg_stat_statements in the 8-client webhook benchmark (batches of four new
-- conversations, 20 events) the call took 628-943 µs a batch.
--
-- event_store_append_packed takes the same rule with different arguments:
--   * e_data and e_meta are replaced by the blob (e_blob) and the 1-based
--     offset and length of each event's data (e_doff, e_dlen) and metadata
--     (e_moff, e_mlen) in it;
--   * e_stream is replaced by e_app, each event's append (1-based): its
--     stream is a_stream[e_app];
--   * a_before is, per append, the events of the batch's earlier appends to
--     the same stream, and e_roff each event's revision counted from the
--     stream's revision before the batch (a_before of its append plus its
--     place in it, 1-based), both as if every append applied.
-- When no append's first event id is already in its stream and every
-- expectation holds against the stream's revision plus a_before, every
-- append applies: the events are inserted by one statement (position head +
-- the event's place in the batch, revision the stream's + e_roff) and the
-- answer follows from the counts. Otherwise event_store_append is called
-- with the batch's events as it takes them, and decides each append in
-- order, as before. The same answers and rows as event_store_append
-- (TestPackedAppendDecidesAsTheLoop); its plans never scan the log (00040).
--
-- event_store_append stays: it decides the batches with a failure or a
-- possible repeat, and serves processes of the previous version during an
-- upgrade (both functions take the same lock).
-- +goose StatementBegin
CREATE FUNCTION event_store_append_packed(
    a_stream   text[],
    a_expected bigint[],
    a_count    int[],
    a_first    uuid[],
    a_prev     int[],
    a_group    int[],
    a_before   int[],
    e_app      int[],
    e_roff     int[],
    e_id       uuid[],
    e_type     text[],
    e_doff     int[],
    e_dlen     int[],
    e_moff     int[],
    e_mlen     int[],
    e_blob     bytea
) RETURNS TABLE (status smallint, revision bigint, "position" bigint, created_at timestamptz)
LANGUAGE plpgsql
-- Plans made once per connection: a custom plan per call costs more than
-- the index probes it would choose.
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
AS $$
#variable_conflict use_column
DECLARE
    head     bigint;
    db_rev   bigint[];
    stored   boolean[];
BEGIN
    -- The append lock: held to the end of the transaction, so the previous
    -- append has committed and is visible before this one reads the head.
    PERFORM pg_advisory_xact_lock(8317976083403535475);
    SELECT coalesce(max(e.position), 0) INTO head FROM event_store_events e;

    -- One statement, each value one index probe: a join would be planned
    -- once per connection, and a plan made while the tables were small (a
    -- hash join over a sequential scan) would stay as they grow.
    SELECT array_agg((SELECT max(s.revision) FROM event_store_events s WHERE s.stream_name = u.name) ORDER BY u.i),
           array_agg(EXISTS (SELECT 1 FROM event_store_events e WHERE e.event_id = u.id AND e.stream_name = u.name) ORDER BY u.i)
      INTO db_rev, stored
      FROM unnest(a_stream, a_first) WITH ORDINALITY AS u(name, id, i);

    -- The common case: no append repeats stored events and every
    -- expectation holds, against the stream's revision in the log plus the
    -- events of the batch's earlier appends to it (a_before). Then each
    -- event's position and revision follow from its place in the batch, and
    -- the events are written in one statement, no append decided in turn.
    IF NOT (true = ANY (stored)) AND NOT EXISTS (
        SELECT 1 FROM unnest(a_expected, db_rev, a_before) AS u(ex, r, b)
         WHERE NOT CASE WHEN u.ex = -2 THEN true
                        WHEN u.ex = -1 THEN coalesce(u.r, -1) + u.b = -1
                        WHEN u.ex = -3 THEN coalesce(u.r, -1) + u.b >= 0
                        ELSE coalesce(u.r, -1) + u.b = u.ex END) THEN
        IF array_length(e_id, 1) > 0 THEN
            INSERT INTO event_store_events (position, stream_name, revision, event_id, event_type, data, metadata, created_at)
            SELECT head + u.k, a_stream[u.a], coalesce(db_rev[u.a], -1) + u.ro, u.id, u.t,
                   substring(e_blob FROM u.dof FOR u.dln), substring(e_blob FROM u.mof FOR u.mln), now()
              FROM unnest(e_app, e_roff, e_id, e_type, e_doff, e_dlen, e_moff, e_mlen) WITH ORDINALITY
                   AS u(a, ro, id, t, dof, dln, mof, mln, k);
            PERFORM pg_notify('socialops_events', (head + array_length(e_id, 1))::text);
        END IF;
        RETURN QUERY SELECT 0::smallint, coalesce(u.r, -1) + u.b + u.c, head + sum(u.c) OVER (ORDER BY u.i), now()
                       FROM unnest(db_rev, a_before, a_count) WITH ORDINALITY AS u(r, b, c, i)
                      ORDER BY u.i;
        RETURN;
    END IF;

    -- Some append fails or may repeat stored events: event_store_append
    -- decides each append in order, a failure undoing the rest of its group,
    -- with the batch's events as it takes them. It takes the lock this
    -- transaction holds and reads what this function read.
    RETURN QUERY SELECT * FROM event_store_append(a_stream, a_expected, a_count, a_first, a_prev, a_group,
        ARRAY(SELECT a_stream[u.a] FROM unnest(e_app) WITH ORDINALITY AS u(a, k) ORDER BY u.k),
        e_id, e_type,
        ARRAY(SELECT substring(e_blob FROM u.o FOR u.l) FROM unnest(e_doff, e_dlen) WITH ORDINALITY AS u(o, l, k) ORDER BY u.k),
        ARRAY(SELECT substring(e_blob FROM u.o FOR u.l) FROM unnest(e_moff, e_mlen) WITH ORDINALITY AS u(o, l, k) ORDER BY u.k));
END;
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION event_store_append_packed(text[], bigint[], int[], uuid[], int[], int[], int[], int[], int[], uuid[], text[], int[], int[], int[], int[], bytea);

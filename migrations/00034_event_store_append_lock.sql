-- +goose Up
-- The event store without its bookkeeping rows (issue 21). Appends were
-- serialized by the row lock on event_store_head and kept each stream's
-- revision in event_store_streams: per append a locked and updated head row
-- and an upserted stream row, three more WAL records and index writes than
-- the event itself, for facts the events already hold.
--   * Appends are serialized by a transaction-scoped advisory lock instead
--     (key 8317976083403535475, the bytes of "soc-evts"), taken first. It is
--     released after the transaction commits and is visible, as the row lock
--     was, so positions still become visible in order and a catch-up reader
--     never skips an event. The head is the greatest position, and a
--     stream's revision its greatest revision: each one backward index probe.
--   * event_store_append keeps its arguments and answer. It takes the lock
--     and writes only the events.
--   * event_store_append_one is the same rule for one append to one stream
--     (the common case at low load), with scalar arguments and no batch
--     bookkeeping: status 0 applied, 1 wrong expected revision, 3 a possible
--     repeat (its first event id is already in the stream).
-- Every writer must take the same lock: the store's checked path
-- (adapters/eventstore/postgres/batch.go) and the bulk loader of the tests
-- (adapters/postgres/pgtest/bulk.go) do.
DROP FUNCTION event_store_append(text[], bigint[], int[], uuid[], int[], int[], text[], uuid[], text[], bytea[], bytea[]);
-- +goose StatementBegin
CREATE FUNCTION event_store_append(
    a_stream   text[],
    a_expected bigint[],
    a_count    int[],
    a_first    uuid[],
    a_prev     int[],
    a_group    int[],
    e_stream   text[],
    e_id       uuid[],
    e_type     text[],
    e_data     bytea[],
    e_meta     bytea[]
) RETURNS TABLE (status smallint, revision bigint, "position" bigint, created_at timestamptz)
LANGUAGE plpgsql
-- Plans made once per connection: a custom plan per call costs more than
-- the index probes it would choose.
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
DECLARE
    n        int := coalesce(array_length(a_stream, 1), 0);
    head     bigint;
    pos      bigint;
    db_rev   bigint[];
    stored   boolean[];
    -- Sized up front: assigning element k of an empty array would make an
    -- array that starts at k, and unnest would misalign it.
    fin      bigint[] := array_fill(NULL::bigint, ARRAY[n]);   -- the stream's revision after append i (applied or not)
    st       smallint[] := array_fill(NULL::smallint, ARRAY[n]);
    out_rev  bigint[] := array_fill(NULL::bigint, ARRAY[n]);
    out_pos  bigint[] := array_fill(NULL::bigint, ARRAY[n]);
    ev_pos   bigint[] := array_fill(NULL::bigint, ARRAY[coalesce(array_length(e_id, 1), 0)]);
    ev_rev   bigint[] := array_fill(NULL::bigint, ARRAY[coalesce(array_length(e_id, 1), 0)]);
    i        int;
    k        int;
    g0       int := 1;           -- first append of the current group
    g0_pos   bigint;
    g0_ev    int;
    ev       int := 0;           -- events of the appends before i
    cur      bigint;
    ex       bigint;
    ok       boolean;
    failed   boolean := false;   -- the current group failed
BEGIN
    -- The append lock: held to the end of the transaction, so the previous
    -- append has committed and is visible before this one reads the head.
    PERFORM pg_advisory_xact_lock(8317976083403535475);
    SELECT coalesce(max(e.position), 0) INTO head FROM event_store_events e;
    pos := head;

    -- One statement, each value one index probe: a join would be planned
    -- once per connection, and a plan made while the tables were small (a
    -- hash join over a sequential scan) would stay as they grow.
    SELECT array_agg((SELECT max(s.revision) FROM event_store_events s WHERE s.stream_name = u.name) ORDER BY u.i),
           array_agg(EXISTS (SELECT 1 FROM event_store_events e WHERE e.event_id = u.id AND e.stream_name = u.name) ORDER BY u.i)
      INTO db_rev, stored
      FROM unnest(a_stream, a_first) WITH ORDINALITY AS u(name, id, i);

    g0_pos := pos;
    g0_ev := 0;
    FOR i IN 1 .. n LOOP
        IF i > 1 AND a_group[i] <> a_group[i - 1] THEN
            g0 := i; g0_pos := pos; g0_ev := ev; failed := false;
        END IF;
        IF a_prev[i] > 0 THEN cur := fin[a_prev[i]]; ELSE cur := coalesce(db_rev[i], -1); END IF;
        fin[i] := cur;
        IF failed THEN
            st[i] := 2; out_rev[i] := cur;
        ELSE
            ex := a_expected[i];
            IF stored[i] THEN
                st[i] := 3; out_rev[i] := cur;
                ok := false;
            ELSE
                ok := CASE WHEN ex = -2 THEN true WHEN ex = -1 THEN cur = -1 WHEN ex = -3 THEN cur >= 0 ELSE cur = ex END;
                IF ok THEN
                    FOR k IN 1 .. a_count[i] LOOP
                        pos := pos + 1; cur := cur + 1;
                        ev_pos[ev + k] := pos; ev_rev[ev + k] := cur;
                    END LOOP;
                    fin[i] := cur; st[i] := 0; out_rev[i] := cur; out_pos[i] := pos;
                ELSE
                    st[i] := 1; out_rev[i] := cur;
                END IF;
            END IF;
            IF NOT ok THEN
                -- Undo the group's earlier members and skip the rest of it.
                failed := true;
                FOR k IN g0 .. i - 1 LOOP
                    st[k] := 2; out_rev[k] := coalesce(CASE WHEN a_prev[k] > 0 THEN fin[a_prev[k]] END, db_rev[k], -1);
                    fin[k] := out_rev[k]; out_pos[k] := NULL;
                END LOOP;
                FOR k IN g0_ev + 1 .. ev LOOP
                    ev_pos[k] := NULL; ev_rev[k] := NULL;
                END LOOP;
                pos := g0_pos;
            END IF;
        END IF;
        ev := ev + a_count[i];
    END LOOP;

    IF pos > head THEN
        INSERT INTO event_store_events (position, stream_name, revision, event_id, event_type, data, metadata, created_at)
        SELECT u.p, u.s, u.r, u.id, u.t, u.d, u.m, now()
          FROM unnest(ev_pos, ev_rev, e_stream, e_id, e_type, e_data, e_meta) AS u(p, r, s, id, t, d, m)
         WHERE u.p IS NOT NULL;
        PERFORM pg_notify('socialops_events', pos::text);
    END IF;

    RETURN QUERY SELECT u.c, u.r, u.p, now() FROM unnest(st, out_rev, out_pos) AS u(c, r, p);
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION event_store_append_one(
    a_stream   text,
    a_expected bigint,
    e_id       uuid[],
    e_type     text[],
    e_data     bytea[],
    e_meta     bytea[],
    OUT status     smallint,
    OUT revision   bigint,
    OUT "position" bigint,
    OUT created_at timestamptz
)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
DECLARE
    n    int := coalesce(array_length(e_id, 1), 0);
    head bigint;
    cur  bigint;
BEGIN
    created_at := now();
    PERFORM pg_advisory_xact_lock(8317976083403535475);
    SELECT coalesce(max(e.position), 0) INTO head FROM event_store_events e;
    SELECT coalesce(max(e.revision), -1) INTO cur FROM event_store_events e WHERE e.stream_name = a_stream;
    revision := cur;
    IF EXISTS (SELECT 1 FROM event_store_events e WHERE e.event_id = e_id[1] AND e.stream_name = a_stream) THEN
        status := 3;   -- a possible repeat: decided by the caller with the whole rule
        RETURN;
    END IF;
    IF NOT (CASE WHEN a_expected = -2 THEN true WHEN a_expected = -1 THEN cur = -1
                 WHEN a_expected = -3 THEN cur >= 0 ELSE cur = a_expected END) THEN
        status := 1;
        RETURN;
    END IF;
    INSERT INTO event_store_events (position, stream_name, revision, event_id, event_type, data, metadata, created_at)
    SELECT head + u.k, a_stream, cur + u.k, u.id, u.t, u.d, u.m, created_at
      FROM unnest(e_id, e_type, e_data, e_meta) WITH ORDINALITY AS u(id, t, d, m, k);
    PERFORM pg_notify('socialops_events', (head + n)::text);
    status := 0; revision := cur + n; "position" := head + n;
END;
$$;
-- +goose StatementEnd

DROP TABLE event_store_streams;
DROP TABLE event_store_head;

-- +goose Down
CREATE TABLE event_store_streams (
    stream_name text   PRIMARY KEY,
    revision    bigint NOT NULL
);
INSERT INTO event_store_streams (stream_name, revision)
SELECT stream_name, max(revision) FROM event_store_events GROUP BY stream_name;
CREATE TABLE event_store_head (
    id       smallint PRIMARY KEY CHECK (id = 1),
    position bigint   NOT NULL
);
INSERT INTO event_store_head (id, position) SELECT 1, coalesce(max(position), 0) FROM event_store_events;
DROP FUNCTION event_store_append_one(text, bigint, uuid[], text[], bytea[], bytea[]);
DROP FUNCTION event_store_append(text[], bigint[], int[], uuid[], int[], int[], text[], uuid[], text[], bytea[], bytea[]);
-- +goose StatementBegin
CREATE FUNCTION event_store_append(
    a_stream   text[],
    a_expected bigint[],
    a_count    int[],
    a_first    uuid[],
    a_prev     int[],
    a_group    int[],
    e_stream   text[],
    e_id       uuid[],
    e_type     text[],
    e_data     bytea[],
    e_meta     bytea[]
) RETURNS TABLE (status smallint, revision bigint, "position" bigint, created_at timestamptz)
LANGUAGE plpgsql
-- Plans made once per connection: a custom plan per call costs more than
-- the index probes it would choose.
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
DECLARE
    n        int := coalesce(array_length(a_stream, 1), 0);
    head     bigint;
    pos      bigint;
    db_rev   bigint[];
    stored   boolean[];
    -- Sized up front: assigning element k of an empty array would make an
    -- array that starts at k, and unnest would misalign it.
    fin      bigint[] := array_fill(NULL::bigint, ARRAY[n]);   -- the stream's revision after append i (applied or not)
    st       smallint[] := array_fill(NULL::smallint, ARRAY[n]);
    out_rev  bigint[] := array_fill(NULL::bigint, ARRAY[n]);
    out_pos  bigint[] := array_fill(NULL::bigint, ARRAY[n]);
    ev_pos   bigint[] := array_fill(NULL::bigint, ARRAY[coalesce(array_length(e_id, 1), 0)]);
    ev_rev   bigint[] := array_fill(NULL::bigint, ARRAY[coalesce(array_length(e_id, 1), 0)]);
    i        int;
    k        int;
    g0       int := 1;           -- first append of the current group
    g0_pos   bigint;
    g0_ev    int;
    ev       int := 0;           -- events of the appends before i
    cur      bigint;
    ex       bigint;
    ok       boolean;
    failed   boolean := false;   -- the current group failed
    notified text;
BEGIN
    SELECT h.position INTO head FROM event_store_head h WHERE h.id = 1 FOR UPDATE;
    pos := head;

    -- One statement, each value one index probe: a join would be planned
    -- once per connection, and a plan made while the tables were small (a
    -- hash join over a sequential scan) would stay as they grow.
    SELECT array_agg((SELECT s.revision FROM event_store_streams s WHERE s.stream_name = u.name) ORDER BY u.i),
           array_agg(EXISTS (SELECT 1 FROM event_store_events e WHERE e.event_id = u.id AND e.stream_name = u.name) ORDER BY u.i)
      INTO db_rev, stored
      FROM unnest(a_stream, a_first) WITH ORDINALITY AS u(name, id, i);

    g0_pos := pos;
    g0_ev := 0;
    FOR i IN 1 .. n LOOP
        IF i > 1 AND a_group[i] <> a_group[i - 1] THEN
            g0 := i; g0_pos := pos; g0_ev := ev; failed := false;
        END IF;
        IF a_prev[i] > 0 THEN cur := fin[a_prev[i]]; ELSE cur := coalesce(db_rev[i], -1); END IF;
        fin[i] := cur;
        IF failed THEN
            st[i] := 2; out_rev[i] := cur;
        ELSE
            ex := a_expected[i];
            IF stored[i] THEN
                st[i] := 3; out_rev[i] := cur;
                ok := false;
            ELSE
                ok := CASE WHEN ex = -2 THEN true WHEN ex = -1 THEN cur = -1 WHEN ex = -3 THEN cur >= 0 ELSE cur = ex END;
                IF ok THEN
                    FOR k IN 1 .. a_count[i] LOOP
                        pos := pos + 1; cur := cur + 1;
                        ev_pos[ev + k] := pos; ev_rev[ev + k] := cur;
                    END LOOP;
                    fin[i] := cur; st[i] := 0; out_rev[i] := cur; out_pos[i] := pos;
                ELSE
                    st[i] := 1; out_rev[i] := cur;
                END IF;
            END IF;
            IF NOT ok THEN
                -- Undo the group's earlier members and skip the rest of it.
                failed := true;
                FOR k IN g0 .. i - 1 LOOP
                    st[k] := 2; out_rev[k] := coalesce(CASE WHEN a_prev[k] > 0 THEN fin[a_prev[k]] END, db_rev[k], -1);
                    fin[k] := out_rev[k]; out_pos[k] := NULL;
                END LOOP;
                FOR k IN g0_ev + 1 .. ev LOOP
                    ev_pos[k] := NULL; ev_rev[k] := NULL;
                END LOOP;
                pos := g0_pos;
            END IF;
        END IF;
        ev := ev + a_count[i];
    END LOOP;

    IF pos > head THEN
        -- The writes in one statement (they run after the head lock, so one
        -- snapshot is enough).
        WITH events AS (
            INSERT INTO event_store_events (position, stream_name, revision, event_id, event_type, data, metadata, created_at)
            SELECT u.p, u.s, u.r, u.id, u.t, u.d, u.m, now()
              FROM unnest(ev_pos, ev_rev, e_stream, e_id, e_type, e_data, e_meta) AS u(p, r, s, id, t, d, m)
             WHERE u.p IS NOT NULL
        ), streams AS (
            INSERT INTO event_store_streams (stream_name, revision)
            SELECT DISTINCT ON (u.s) u.s, u.r
              FROM unnest(a_stream, out_rev, st) AS u(s, r, c)
             WHERE u.c = 0
             ORDER BY u.s, u.r DESC
            ON CONFLICT (stream_name) DO UPDATE SET revision = EXCLUDED.revision
        ), moved AS (
            UPDATE event_store_head SET position = pos WHERE id = 1
        )
        SELECT pg_notify('socialops_events', pos::text) INTO notified;
    END IF;

    RETURN QUERY SELECT u.c, u.r, u.p, now() FROM unnest(st, out_rev, out_pos) AS u(c, r, p);
END;
$$;
-- +goose StatementEnd

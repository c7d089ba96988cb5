-- +goose Up
-- One group-commit batch of the Postgres event store in one statement, so one
-- round trip and one autocommit transaction (issue 21). The head row is locked
-- first, as before: positions are assigned under that lock and the
-- transaction commits before the next batch can assign any, so a catch-up
-- reader still never skips an event.
--
-- Per append (arrays aligned): its stream, its expectation (>= 0 an exact
-- revision, -1 no stream, -2 any, -3 stream exists), its number of events, its
-- first event id, the index (1-based) of the previous append of the same
-- stream in this batch (0 for none), and its atomic group (appends of one
-- group are adjacent; a group is applied whole or not at all). Per event, in
-- append order: stream, id, type, data, metadata.
--
-- Answer per append: status 0 applied (revision and position of its last
-- event), 1 wrong expected revision (revision = the stream's actual, -1 for
-- none), 2 not applied because another member of its group failed, 3 deferred:
-- the first event id is already stored in that stream, so the caller decides
-- on idempotency with the full rule and appends it again in a later
-- transaction (a repeat is rare; its group is deferred whole).
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
) RETURNS TABLE (status smallint, revision bigint, "position" bigint)
LANGUAGE plpgsql AS $$
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
    SELECT h.position INTO head FROM event_store_head h WHERE h.id = 1 FOR UPDATE;
    pos := head;

    SELECT array_agg(s.revision ORDER BY u.i) INTO db_rev
      FROM unnest(a_stream) WITH ORDINALITY AS u(name, i)
      LEFT JOIN event_store_streams s ON s.stream_name = u.name;
    SELECT array_agg(EXISTS (SELECT 1 FROM event_store_events e WHERE e.event_id = u.id AND e.stream_name = u.name) ORDER BY u.i)
      INTO stored
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
        INSERT INTO event_store_streams (stream_name, revision)
        SELECT DISTINCT ON (u.s) u.s, u.r
          FROM unnest(a_stream, out_rev, st) AS u(s, r, c)
         WHERE u.c = 0
         ORDER BY u.s, u.r DESC
        ON CONFLICT (stream_name) DO UPDATE SET revision = EXCLUDED.revision;
        UPDATE event_store_head SET position = pos WHERE id = 1;
        PERFORM pg_notify('socialops_events', pos::text);
    END IF;

    RETURN QUERY SELECT u.c, u.r, u.p FROM unnest(st, out_rev, out_pos) AS u(c, r, p);
END;
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION event_store_append(text[], bigint[], int[], uuid[], int[], int[], text[], uuid[], text[], bytea[], bytea[]);

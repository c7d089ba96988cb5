-- +goose Up
-- report_flush (migrations/00031) planned its two full-key upserts on every
-- call: each was dynamic SQL (report_upsert), run once per projector
-- transaction, and with a few events per transaction (a live log) planning
-- them was most of the reports projector's database time (issue 21: 1.7 ms
-- of a 2.7 ms flush at 1,000 webhooks/s). The statements are now made once,
-- here, from the same text (report_upsert_sql), into report_flush_rollups,
-- a function whose plans are kept per connection.

-- +goose StatementBegin
-- report_upsert_sql is the statement report_upsert runs.
CREATE FUNCTION report_upsert_sql(target text, key text[], query text, add boolean) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT format('INSERT INTO %I AS r (%s) %s', target, array_to_string(key || report_columns(), ', '), query) ||
        CASE WHEN add THEN format(' ON CONFLICT (%s) DO UPDATE SET %s', array_to_string(key, ', '),
            (SELECT string_agg(format('%1$I = r.%1$I + EXCLUDED.%1$I', c), ', ') FROM unnest(report_columns()) c)) ELSE '' END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION report_upsert(target text, key text[], query text, add boolean) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE report_upsert_sql(target, key, query, add);
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
DO $do$
DECLARE
    raw_key text[] := ARRAY['instance_id', 'bucket', 'agent', 'responder', 'channel', 'category'];
    sums text := (SELECT string_agg(format('sum(%I)', c), ', ') FROM unnest(report_columns()) c);
BEGIN
    EXECUTE format($f$
        -- report_flush_rollups adds the staged sums to report_hourly and
        -- report_daily (made by migrations/00033 from report_upsert_sql).
        CREATE FUNCTION report_flush_rollups() RETURNS void LANGUAGE plpgsql AS $body$
        BEGIN
            %s;
            %s;
        END $body$$f$,
        report_upsert_sql('report_hourly', raw_key, format('SELECT instance_id, date_trunc(%L, local), agent, responder, channel, category, %s '
            'FROM report_staged GROUP BY 1, 2, 3, 4, 5, 6', 'hour', sums), true),
        report_upsert_sql('report_daily', raw_key, format('SELECT instance_id, local::date, agent, responder, channel, category, %s '
            'FROM report_staged GROUP BY 1, 2, 3, 4, 5, 6', sums), true));
END $do$;
-- +goose StatementEnd

-- +goose StatementBegin
-- report_flush as in migrations/00031, with the full-key rollups from
-- report_flush_rollups.
CREATE OR REPLACE FUNCTION report_flush() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    cube_key text[] := ARRAY['instance_id', 'grain', 'mask', 'bucket', 'agent', 'responder', 'channel', 'category'];
    m record;
    l report_live;
    hr timestamp;
    dy date;
    mo date;
    inst text;
BEGIN
    PERFORM 1 FROM report_staged LIMIT 1;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    -- The full-key rollups, planned once per connection.
    PERFORM report_flush_rollups();
    FOR m IN SELECT instance_id, max(local) AS latest, min(local) AS earliest FROM report_staged GROUP BY instance_id LOOP
        SELECT * INTO l FROM report_live WHERE instance_id = m.instance_id;
        IF NOT FOUND THEN
            -- A new instance: nothing is sealed before its first sums.
            INSERT INTO report_live VALUES (m.instance_id, date_trunc('hour', m.earliest), m.earliest::date,
                date_trunc('month', m.earliest)::date) RETURNING * INTO l;
        END IF;
        hr := date_trunc('hour', m.latest);
        dy := m.latest::date;
        mo := date_trunc('month', m.latest)::date;
        inst := format('instance_id = %L AND ', m.instance_id);
        -- Sums that fall in sealed periods go to their cube rows too.
        IF EXISTS (SELECT 1 FROM report_staged s WHERE s.instance_id = m.instance_id AND date_trunc('hour', s.local) < l.hour) THEN
            PERFORM report_upsert('report_cube', cube_key, report_grouped('report_staged', 'hour', 'date_trunc(''hour'', local)',
                inst || format('date_trunc(''hour'', local) < %L', l.hour)), true);
            PERFORM report_upsert('report_cube', cube_key, report_grouped('report_staged', 'day', 'local::date::timestamp',
                inst || format('local::date < %L', l.day)), true);
            PERFORM report_upsert('report_cube', cube_key, report_grouped('report_staged', 'month', 'date_trunc(''month'', local)',
                inst || format('local::date < %L', l.month)), true);
        END IF;
        -- Periods now over are sealed from the rollups, which hold the
        -- stage's sums by now.
        IF hr > l.hour THEN
            PERFORM report_upsert('report_cube', cube_key, report_grouped('report_hourly', 'hour', 'bucket',
                inst || format('bucket >= %L AND bucket < %L', l.hour, hr)), false);
        END IF;
        IF dy > l.day THEN
            PERFORM report_upsert('report_cube', cube_key, report_grouped('report_daily', 'day', 'bucket::timestamp',
                inst || format('bucket >= %L AND bucket < %L', l.day, dy)), false);
        END IF;
        IF mo > l.month THEN
            PERFORM report_upsert('report_cube', cube_key, report_grouped('report_daily', 'month', 'date_trunc(''month'', bucket::timestamp)',
                inst || format('bucket >= %L AND bucket < %L', l.month, mo)), false);
        END IF;
        UPDATE report_live SET hour = greatest(l.hour, hr), day = greatest(l.day, dy), month = greatest(l.month, mo)
            WHERE instance_id = m.instance_id;
    END LOOP;
    DELETE FROM report_staged;
END $$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION report_flush() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    cube_key text[] := ARRAY['instance_id', 'grain', 'mask', 'bucket', 'agent', 'responder', 'channel', 'category'];
    raw_key text[] := ARRAY['instance_id', 'bucket', 'agent', 'responder', 'channel', 'category'];
    sums text := (SELECT string_agg(format('sum(%I)', c), ', ') FROM unnest(report_columns()) c);
    m record;
    l report_live;
    hr timestamp;
    dy date;
    mo date;
    inst text;
BEGIN
    PERFORM 1 FROM report_staged LIMIT 1;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    -- The full-key rollups.
    PERFORM report_upsert('report_hourly', raw_key, format('SELECT instance_id, date_trunc(%L, local), agent, responder, channel, category, %s '
        'FROM report_staged GROUP BY 1, 2, 3, 4, 5, 6', 'hour', sums), true);
    PERFORM report_upsert('report_daily', raw_key, format('SELECT instance_id, local::date, agent, responder, channel, category, %s '
        'FROM report_staged GROUP BY 1, 2, 3, 4, 5, 6', sums), true);
    FOR m IN SELECT instance_id, max(local) AS latest, min(local) AS earliest FROM report_staged GROUP BY instance_id LOOP
        SELECT * INTO l FROM report_live WHERE instance_id = m.instance_id;
        IF NOT FOUND THEN
            -- A new instance: nothing is sealed before its first sums.
            INSERT INTO report_live VALUES (m.instance_id, date_trunc('hour', m.earliest), m.earliest::date,
                date_trunc('month', m.earliest)::date) RETURNING * INTO l;
        END IF;
        hr := date_trunc('hour', m.latest);
        dy := m.latest::date;
        mo := date_trunc('month', m.latest)::date;
        inst := format('instance_id = %L AND ', m.instance_id);
        -- Sums that fall in sealed periods go to their cube rows too.
        IF EXISTS (SELECT 1 FROM report_staged s WHERE s.instance_id = m.instance_id AND date_trunc('hour', s.local) < l.hour) THEN
            PERFORM report_upsert('report_cube', cube_key, report_grouped('report_staged', 'hour', 'date_trunc(''hour'', local)',
                inst || format('date_trunc(''hour'', local) < %L', l.hour)), true);
            PERFORM report_upsert('report_cube', cube_key, report_grouped('report_staged', 'day', 'local::date::timestamp',
                inst || format('local::date < %L', l.day)), true);
            PERFORM report_upsert('report_cube', cube_key, report_grouped('report_staged', 'month', 'date_trunc(''month'', local)',
                inst || format('local::date < %L', l.month)), true);
        END IF;
        -- Periods now over are sealed from the rollups, which hold the
        -- stage's sums by now.
        IF hr > l.hour THEN
            PERFORM report_upsert('report_cube', cube_key, report_grouped('report_hourly', 'hour', 'bucket',
                inst || format('bucket >= %L AND bucket < %L', l.hour, hr)), false);
        END IF;
        IF dy > l.day THEN
            PERFORM report_upsert('report_cube', cube_key, report_grouped('report_daily', 'day', 'bucket::timestamp',
                inst || format('bucket >= %L AND bucket < %L', l.day, dy)), false);
        END IF;
        IF mo > l.month THEN
            PERFORM report_upsert('report_cube', cube_key, report_grouped('report_daily', 'month', 'date_trunc(''month'', bucket::timestamp)',
                inst || format('bucket >= %L AND bucket < %L', l.month, mo)), false);
        END IF;
        UPDATE report_live SET hour = greatest(l.hour, hr), day = greatest(l.day, dy), month = greatest(l.month, mo)
            WHERE instance_id = m.instance_id;
    END LOOP;
    DELETE FROM report_staged;
END $$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION report_upsert(target text, key text[], query text, add boolean) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    cols text[] := report_columns();
BEGIN
    EXECUTE format('INSERT INTO %I AS r (%s) %s', target, array_to_string(key || cols, ', '), query) ||
        CASE WHEN add THEN format(' ON CONFLICT (%s) DO UPDATE SET %s', array_to_string(key, ', '),
            (SELECT string_agg(format('%1$I = r.%1$I + EXCLUDED.%1$I', c), ', ') FROM unnest(cols) c)) ELSE '' END;
END $$;
-- +goose StatementEnd
DROP FUNCTION report_flush_rollups();
DROP FUNCTION report_upsert_sql(text, text[], text, boolean);

-- +goose Up
-- Reports (seed 002 §4.3): the reports projector's tables. Its state is one
-- row per thread (the session cycle under way); its rollups are sums per
-- instance, local hour (report_hourly) or local day (report_daily) and the
-- dimensions agent (who held the session), responder (who wrote), channel
-- (provider) and category (the thread's first label). Durations are whole
-- milliseconds, so sums are exact and a rebuild gives the same rows.
-- README "Reports" holds the definitions.
CREATE TABLE report_settings (
    instance_id    text PRIMARY KEY,
    time_zone      text  NOT NULL DEFAULT 'UTC',
    business_hours jsonb NOT NULL DEFAULT '[]'
);

CREATE TABLE report_threads (
    thread_id         text PRIMARY KEY,
    instance_id       text        NOT NULL,
    channel           text        NOT NULL,
    category          text        NOT NULL DEFAULT '',
    agent             text        NOT NULL DEFAULT '',
    open              boolean     NOT NULL DEFAULT true,
    started_at        timestamptz NOT NULL,
    person_at         timestamptz,
    bot_since         timestamptz,
    had_bot           boolean     NOT NULL DEFAULT false,
    operator_messages integer     NOT NULL DEFAULT 0,
    first_response_at timestamptz,
    waiting           timestamptz[] NOT NULL DEFAULT '{}'
);

CREATE TABLE report_hourly (
    instance_id                text      NOT NULL,
    bucket                     timestamp NOT NULL,
    agent                      text      NOT NULL,
    responder                  text      NOT NULL,
    channel                    text      NOT NULL,
    category                   text      NOT NULL,
    conversations_created      bigint    NOT NULL DEFAULT 0,
    conversations_reopened     bigint    NOT NULL DEFAULT 0,
    conversations_closed       bigint    NOT NULL DEFAULT 0,
    messages_in                bigint    NOT NULL DEFAULT 0,
    messages_out               bigint    NOT NULL DEFAULT 0,
    messages_bot               bigint    NOT NULL DEFAULT 0,
    notes                      bigint    NOT NULL DEFAULT 0,
    first_responses            bigint    NOT NULL DEFAULT 0,
    first_response_ms          bigint    NOT NULL DEFAULT 0,
    first_response_business_ms bigint    NOT NULL DEFAULT 0,
    replies                    bigint    NOT NULL DEFAULT 0,
    reply_ms                   bigint    NOT NULL DEFAULT 0,
    reply_business_ms          bigint    NOT NULL DEFAULT 0,
    resolution_ms              bigint    NOT NULL DEFAULT 0,
    resolution_business_ms     bigint    NOT NULL DEFAULT 0,
    bot_conversations          bigint    NOT NULL DEFAULT 0,
    bot_handoffs               bigint    NOT NULL DEFAULT 0,
    bot_resolved               bigint    NOT NULL DEFAULT 0,
    bot_handling_ms            bigint    NOT NULL DEFAULT 0,
    bot_ended                  bigint    NOT NULL DEFAULT 0,
    bot_closed                 bigint    NOT NULL DEFAULT 0,
    PRIMARY KEY (instance_id, bucket, agent, responder, channel, category)
);

CREATE TABLE report_daily (LIKE report_hourly INCLUDING DEFAULTS);
ALTER TABLE report_daily ALTER COLUMN bucket TYPE date;
ALTER TABLE report_daily ADD PRIMARY KEY (instance_id, bucket, agent, responder, channel, category);

-- Metrics pushed by other systems (POST …/api/v1/statistics/push): the last
-- push of a type, day and dimension set replaces the one before.
CREATE TABLE report_pushed (
    instance_id text  NOT NULL,
    type        text  NOT NULL,
    day         date  NOT NULL,
    dimension   jsonb NOT NULL,
    agent       text  NOT NULL DEFAULT '',
    channel     text  NOT NULL DEFAULT '',
    category    text  NOT NULL DEFAULT '',
    metrics     jsonb NOT NULL,
    PRIMARY KEY (instance_id, type, day, dimension)
);

-- +goose StatementBegin
-- report_business_ms is how much of [a, b) falls in the business hours
-- (a JSON array of {"weekday": 0-6 from Sunday, "start": "HH:MM", "end":
-- "HH:MM"}, local wall-clock times in tz); no hours at all means every hour
-- counts. Whole milliseconds, rounded down.
CREATE FUNCTION report_business_ms(a timestamptz, b timestamptz, tz text, hours jsonb) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
    total numeric := 0;
    d date;
    last date;
    w jsonb;
    ws timestamptz;
    we timestamptz;
BEGIN
    IF a IS NULL OR b IS NULL OR b <= a THEN
        RETURN 0;
    END IF;
    IF hours IS NULL OR jsonb_array_length(hours) = 0 THEN
        RETURN floor((extract(epoch FROM b) - extract(epoch FROM a)) * 1000)::bigint;
    END IF;
    d := (a AT TIME ZONE tz)::date;
    last := (b AT TIME ZONE tz)::date;
    WHILE d <= last LOOP
        FOR w IN SELECT value FROM jsonb_array_elements(hours) LOOP
            IF (w->>'weekday')::int = extract(dow FROM d)::int THEN
                ws := greatest((d + (w->>'start')::time) AT TIME ZONE tz, a);
                we := least((d + (w->>'end')::time) AT TIME ZONE tz, b);
                IF we > ws THEN
                    total := total + (extract(epoch FROM we) - extract(epoch FROM ws));
                END IF;
            END IF;
        END LOOP;
        d := d + 1;
    END LOOP;
    RETURN floor(total * 1000)::bigint;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION report_ms(a timestamptz, b timestamptz) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN a IS NULL OR b IS NULL OR b <= a THEN 0 ELSE floor((extract(epoch FROM b) - extract(epoch FROM a)) * 1000)::bigint END
$$;
-- +goose StatementEnd

-- Reports are answered in milliseconds over a year of data:
--
-- 1. Staging. report_add does not upsert the rollups row by row: it
--    appends the event's sums, at the local time it falls in, to
--    report_staged, and report_flush (run once per projector transaction,
--    before its checkpoint moves) adds them all to report_hourly and
--    report_daily in one grouped upsert per table, then empties the stage.
--
-- 2. Sealed periods. A report sums rows of the requested dimensions; the
--    full-key rows of a month are tens of thousands. report_cube holds, for
--    every local hour, day and month that is over, the sums per subset of
--    the dimensions (mask: agent 8, responder 4, channel 2, category 1; a
--    dimension outside the mask is ''). Months keep all 16 masks, days
--    0-14 (mask 15 is report_daily itself), hours 0-3 (report_grouped).
--    report_live holds, per instance, the latest local hour, day and month
--    it has sums for: every period before them is sealed into the cube
--    when the first sums of a later one come. Sums of an event in a
--    period already sealed (a clock behind, a time-zone change, a parked
--    event retried) are added to the cube rows of that period as well, so
--    at every commit: for each period before report_live's marks, the cube
--    rows are exactly the grouping sets of the full-key rows. The final
--    tables do not depend on how events were batched, so a rebuild and
--    `projections verify` give the same rows.
CREATE TABLE report_staged (LIKE report_hourly INCLUDING DEFAULTS);
ALTER TABLE report_staged RENAME COLUMN bucket TO local;

CREATE TABLE report_cube (LIKE report_hourly INCLUDING DEFAULTS);
ALTER TABLE report_cube ADD COLUMN grain text NOT NULL, ADD COLUMN mask smallint NOT NULL;
ALTER TABLE report_cube ADD PRIMARY KEY (instance_id, grain, mask, bucket, agent, responder, channel, category);

CREATE TABLE report_live (
    instance_id text PRIMARY KEY,
    hour        timestamp NOT NULL,
    day         date      NOT NULL,
    month       date      NOT NULL
);

-- +goose StatementBegin
-- report_columns are the sums a rollup row holds, in table order.
CREATE FUNCTION report_columns() RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['conversations_created', 'conversations_reopened', 'conversations_closed',
        'messages_in', 'messages_out', 'messages_bot', 'notes',
        'first_responses', 'first_response_ms', 'first_response_business_ms', 'replies', 'reply_ms', 'reply_business_ms',
        'resolution_ms', 'resolution_business_ms', 'bot_conversations', 'bot_handoffs', 'bot_resolved', 'bot_handling_ms',
        'bot_ended', 'bot_closed']
$$;
-- +goose StatementEnd

-- +goose StatementBegin
-- report_add stages sums at the local time (in the instance's time zone at
-- that event) of p_at; report_flush adds them to the rollups.
CREATE FUNCTION report_add(p_instance text, p_at timestamptz, p_agent text, p_responder text, p_channel text, p_category text,
    conversations_created bigint DEFAULT 0, conversations_reopened bigint DEFAULT 0, conversations_closed bigint DEFAULT 0,
    messages_in bigint DEFAULT 0, messages_out bigint DEFAULT 0, messages_bot bigint DEFAULT 0, notes bigint DEFAULT 0,
    first_responses bigint DEFAULT 0, first_response_ms bigint DEFAULT 0, first_response_business_ms bigint DEFAULT 0,
    replies bigint DEFAULT 0, reply_ms bigint DEFAULT 0, reply_business_ms bigint DEFAULT 0,
    resolution_ms bigint DEFAULT 0, resolution_business_ms bigint DEFAULT 0,
    bot_conversations bigint DEFAULT 0, bot_handoffs bigint DEFAULT 0, bot_resolved bigint DEFAULT 0, bot_handling_ms bigint DEFAULT 0,
    bot_ended bigint DEFAULT 0, bot_closed bigint DEFAULT 0)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    tz text;
BEGIN
    SELECT s.time_zone INTO tz FROM report_settings s WHERE s.instance_id = p_instance;
    INSERT INTO report_staged VALUES (p_instance, p_at AT TIME ZONE coalesce(tz, 'UTC'), p_agent, p_responder, p_channel, p_category,
        conversations_created, conversations_reopened, conversations_closed, messages_in, messages_out, messages_bot, notes,
        first_responses, first_response_ms, first_response_business_ms, replies, reply_ms, reply_business_ms,
        resolution_ms, resolution_business_ms, bot_conversations, bot_handoffs, bot_resolved, bot_handling_ms, bot_ended, bot_closed);
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- report_upsert adds the rows of a query (its columns: the target's key,
-- then report_columns() as sums) to a rollup table; add = false inserts only,
-- so a row already there is an error (sealing a period twice would count it
-- twice).
CREATE FUNCTION report_upsert(target text, key text[], query text, add boolean) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    cols text[] := report_columns();
BEGIN
    EXECUTE format('INSERT INTO %I AS r (%s) %s', target, array_to_string(key || cols, ', '), query) ||
        CASE WHEN add THEN format(' ON CONFLICT (%s) DO UPDATE SET %s', array_to_string(key, ', '),
            (SELECT string_agg(format('%1$I = r.%1$I + EXCLUDED.%1$I', c), ', ') FROM unnest(cols) c)) ELSE '' END;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- report_grouped is a query summing src's rows per instance, bucket (an
-- expression over src's columns) and the subsets of the dimensions the
-- cube keeps for grain, restricted by cond: for months every subset; for
-- days all but the full one (report_daily is that); for hours only those
-- without agent and responder (an hourly report by agent reads
-- report_hourly: a day of it is a few thousand rows, and the hours by agent
-- would be most of the cube).
CREATE FUNCTION report_grouped(src text, grain text, bucket text, cond text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT format('SELECT instance_id, %L, (15 # GROUPING(agent, responder, channel, category))::smallint, %s, '
        'coalesce(agent, %L), coalesce(responder, %L), coalesce(channel, %L), coalesce(category, %L), %s '
        'FROM %s WHERE %s GROUP BY instance_id, %s, CUBE (agent, responder, channel, category)%s',
        grain, bucket, '', '', '', '', (SELECT string_agg(format('sum(%I)', c), ', ') FROM unnest(report_columns()) c),
        src, cond, bucket, CASE grain
            WHEN 'hour' THEN ' HAVING GROUPING(agent, responder) = 3'
            WHEN 'day' THEN ' HAVING GROUPING(agent, responder, channel, category) <> 0'
            ELSE '' END)
$$;
-- +goose StatementEnd

-- +goose StatementBegin
-- report_flush adds the staged sums to the rollups and the cube, seals the
-- periods that are over, and empties the stage. The projector runs it once
-- per transaction, after the events and before the checkpoint.
CREATE FUNCTION report_flush() RETURNS void LANGUAGE plpgsql AS $$
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
-- report_hours is an instance's time zone and business hours (UTC, none).
CREATE FUNCTION report_hours(p_instance text, OUT tz text, OUT hours jsonb) LANGUAGE plpgsql STABLE AS $$
BEGIN
    SELECT s.time_zone, s.business_hours INTO tz, hours FROM report_settings s WHERE s.instance_id = p_instance;
    tz := coalesce(tz, 'UTC');
    hours := coalesce(hours, '[]'::jsonb);
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- A thread opens: its first cycle starts and reaches a person at once
-- unless a bot takes it (report_on_session 'bot').
CREATE FUNCTION report_on_opened(p_thread text, p_instance text, p_channel text, p_category text, p_at timestamptz) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO report_threads (thread_id, instance_id, channel, category, started_at, person_at)
    VALUES (p_thread, p_instance, p_channel, p_category, p_at, p_at) ON CONFLICT (thread_id) DO NOTHING;
    IF FOUND THEN
        PERFORM report_add(p_instance, p_at, '', '', p_channel, p_category, conversations_created => 1);
    END IF;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- A customer message: counted; it waits for a person when the cycle is with one.
CREATE FUNCTION report_on_inbound(p_thread text, p_at timestamptz, p_labels text[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    r report_threads;
BEGIN
    UPDATE report_threads SET
        category = CASE WHEN category = '' AND cardinality(p_labels) > 0 THEN p_labels[1] ELSE category END,
        waiting = CASE WHEN open AND person_at IS NOT NULL AND cardinality(waiting) < 1000 THEN waiting || p_at ELSE waiting END
    WHERE thread_id = p_thread RETURNING * INTO r;
    IF FOUND THEN
        PERFORM report_add(r.instance_id, p_at, r.agent, '', r.channel, r.category, messages_in => 1);
    END IF;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- An outbound message: a bot's is counted apart; a person's is the first
-- response of the cycle if none came before, and answers every customer
-- message that waits.
CREATE FUNCTION report_on_reply(p_thread text, p_at timestamptz, p_author text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    r report_threads;
    s record;
    person timestamptz;
    fr bigint := 0; fr_ms bigint := 0; fr_bms bigint := 0;
    rp bigint := 0; rp_ms bigint := 0; rp_bms bigint := 0;
    bot_ms bigint := 0;
BEGIN
    SELECT * INTO r FROM report_threads WHERE thread_id = p_thread;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF p_author LIKE 'bot:%' THEN
        PERFORM report_add(r.instance_id, p_at, r.agent, '', r.channel, r.category, messages_bot => 1);
        RETURN;
    END IF;
    IF r.open THEN
        s := report_hours(r.instance_id);
        person := coalesce(r.person_at, p_at);
        IF r.person_at IS NULL AND r.bot_since IS NOT NULL THEN
            bot_ms := report_ms(r.bot_since, p_at);
        END IF;
        IF r.first_response_at IS NULL THEN
            fr := 1;
            fr_ms := report_ms(person, p_at);
            fr_bms := report_business_ms(person, p_at, s.tz, s.hours);
        END IF;
        SELECT count(*), coalesce(sum(report_ms(w, p_at)), 0), coalesce(sum(report_business_ms(w, p_at, s.tz, s.hours)), 0)
            INTO rp, rp_ms, rp_bms FROM unnest(r.waiting) AS w;
        UPDATE report_threads SET person_at = person,
            bot_since = CASE WHEN r.person_at IS NULL THEN NULL ELSE bot_since END,
            first_response_at = coalesce(first_response_at, p_at),
            operator_messages = operator_messages + 1, waiting = '{}'
        WHERE thread_id = p_thread;
    END IF;
    PERFORM report_add(r.instance_id, p_at, r.agent, p_author, r.channel, r.category, messages_out => 1,
        first_responses => fr, first_response_ms => fr_ms, first_response_business_ms => fr_bms,
        replies => rp, reply_ms => rp_ms, reply_business_ms => rp_bms, bot_handling_ms => bot_ms,
        bot_ended => CASE WHEN r.open AND r.person_at IS NULL AND r.bot_since IS NOT NULL THEN 1 ELSE 0 END);
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- Session changes: p_kind 'bot' (the bot takes the cycle), 'queued' (to
-- the queue, p_agent '') or 'assigned' (to the operator p_agent). Leaving
-- the bot is a hand-off; the cycle reaches a person then.
CREATE FUNCTION report_on_session(p_thread text, p_at timestamptz, p_kind text, p_agent text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    r report_threads;
BEGIN
    SELECT * INTO r FROM report_threads WHERE thread_id = p_thread;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF NOT r.open THEN
        UPDATE report_threads SET agent = p_agent WHERE thread_id = p_thread;
        RETURN;
    END IF;
    IF p_kind = 'bot' THEN
        UPDATE report_threads SET agent = '', had_bot = true, bot_since = coalesce(bot_since, p_at),
            person_at = CASE WHEN first_response_at IS NULL THEN NULL ELSE person_at END,
            waiting = CASE WHEN first_response_at IS NULL THEN '{}' ELSE waiting END
        WHERE thread_id = p_thread;
        IF NOT r.had_bot THEN
            PERFORM report_add(r.instance_id, p_at, '', '', r.channel, r.category, bot_conversations => 1);
        END IF;
        RETURN;
    END IF;
    UPDATE report_threads SET agent = p_agent, bot_since = NULL, person_at = coalesce(person_at, p_at) WHERE thread_id = p_thread;
    IF r.bot_since IS NOT NULL THEN
        PERFORM report_add(r.instance_id, p_at, p_agent, '', r.channel, r.category, bot_handoffs => 1,
            bot_handling_ms => report_ms(r.bot_since, p_at), bot_ended => 1);
    END IF;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- The cycle ends: resolution time from its start; a cycle the bot had and
-- no person wrote in is resolved by the bot.
CREATE FUNCTION report_on_close(p_thread text, p_at timestamptz) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    r report_threads;
    s record;
BEGIN
    SELECT * INTO r FROM report_threads WHERE thread_id = p_thread;
    IF NOT FOUND OR NOT r.open THEN
        RETURN;
    END IF;
    s := report_hours(r.instance_id);
    UPDATE report_threads SET open = false, bot_since = NULL, waiting = '{}' WHERE thread_id = p_thread;
    PERFORM report_add(r.instance_id, p_at, r.agent, '', r.channel, r.category, conversations_closed => 1,
        resolution_ms => report_ms(r.started_at, p_at), resolution_business_ms => report_business_ms(r.started_at, p_at, s.tz, s.hours),
        bot_resolved => CASE WHEN r.had_bot AND r.operator_messages = 0 THEN 1 ELSE 0 END,
        bot_handling_ms => report_ms(r.bot_since, p_at),
        bot_ended => CASE WHEN r.bot_since IS NOT NULL THEN 1 ELSE 0 END,
        bot_closed => CASE WHEN r.had_bot THEN 1 ELSE 0 END);
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- A closed thread opens again: a new cycle.
CREATE FUNCTION report_on_reopen(p_thread text, p_at timestamptz) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    r report_threads;
BEGIN
    UPDATE report_threads SET open = true, started_at = p_at, person_at = p_at, bot_since = NULL, had_bot = false,
        operator_messages = 0, first_response_at = NULL, waiting = '{}', agent = ''
    WHERE thread_id = p_thread AND NOT open RETURNING * INTO r;
    IF FOUND THEN
        PERFORM report_add(r.instance_id, p_at, '', '', r.channel, r.category, conversations_reopened => 1);
    END IF;
END $$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION report_on_reopen(text, timestamptz);
DROP FUNCTION report_on_close(text, timestamptz);
DROP FUNCTION report_on_session(text, timestamptz, text, text);
DROP FUNCTION report_on_reply(text, timestamptz, text);
DROP FUNCTION report_on_inbound(text, timestamptz, text[]);
DROP FUNCTION report_on_opened(text, text, text, text, timestamptz);
DROP FUNCTION report_hours(text);
DROP FUNCTION report_flush();
DROP FUNCTION report_grouped(text, text, text, text);
DROP FUNCTION report_upsert(text, text[], text, boolean);
DROP FUNCTION report_add;
DROP FUNCTION report_columns();
DROP FUNCTION report_ms(timestamptz, timestamptz);
DROP FUNCTION report_business_ms(timestamptz, timestamptz, text, jsonb);
DROP TABLE report_live, report_cube, report_staged, report_pushed, report_daily, report_hourly, report_threads, report_settings;

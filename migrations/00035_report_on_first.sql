-- +goose Up
-- report_on_first applies a new conversation's first webhook to the reports
-- (issue 21): the thread's opening, its session's first state and its first
-- message, which DecideInbound appends together, in one call instead of
-- three (report_on_opened, report_on_session, report_on_inbound of
-- migration 00031). For a thread the reports have not seen whose session is
-- queued, or that has no session event, it writes the thread's row once, as
-- the three would leave it, and stages the same two sums. Otherwise (a bot's
-- session, a thread seen before) it calls the three in order.
-- p_session is '' (no session event), 'queued' or 'bot'.

-- +goose StatementBegin
CREATE FUNCTION report_on_first(p_thread text, p_instance text, p_channel text, p_category text, p_opened_at timestamptz,
    p_session text, p_session_at timestamptz, p_at timestamptz, p_labels text[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    category text := p_category;
BEGIN
    IF p_session IN ('', 'queued') AND NOT EXISTS (SELECT 1 FROM report_threads WHERE thread_id = p_thread) THEN
        -- report_on_opened's row; a queued session on an open thread with
        -- no bot changes nothing in it (person_at is already set); the
        -- message takes the category from its labels when there is none
        -- yet and waits for a person.
        IF category = '' AND cardinality(p_labels) > 0 THEN
            category := p_labels[1];
        END IF;
        INSERT INTO report_threads (thread_id, instance_id, channel, category, started_at, person_at, waiting)
        VALUES (p_thread, p_instance, p_channel, category, p_opened_at, p_opened_at, ARRAY[p_at]);
        PERFORM report_add(p_instance, p_opened_at, '', '', p_channel, p_category, conversations_created => 1);
        PERFORM report_add(p_instance, p_at, '', '', p_channel, category, messages_in => 1);
        RETURN;
    END IF;
    PERFORM report_on_opened(p_thread, p_instance, p_channel, p_category, p_opened_at);
    IF p_session <> '' THEN
        PERFORM report_on_session(p_thread, p_session_at, p_session, '');
    END IF;
    PERFORM report_on_inbound(p_thread, p_at, p_labels);
END $$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION report_on_first(text, text, text, text, timestamptz, text, timestamptz, timestamptz, text[]);

-- +goose Up
-- The Postgres event store. Appends are serialized by the row lock on
-- event_store_head, so positions are dense and a position becomes visible
-- only after every smaller one: a catch-up reader can never skip an event.
CREATE TABLE event_store_events (
    position    bigint      PRIMARY KEY,
    stream_name text        NOT NULL,
    revision    bigint      NOT NULL,
    event_id    uuid        NOT NULL,
    event_type  text        NOT NULL,
    data        bytea       NOT NULL,
    metadata    bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (stream_name, revision)
);
CREATE INDEX event_store_events_event_id ON event_store_events (event_id);

CREATE TABLE event_store_streams (
    stream_name text   PRIMARY KEY,
    revision    bigint NOT NULL
);

CREATE TABLE event_store_head (
    id       smallint PRIMARY KEY CHECK (id = 1),
    position bigint   NOT NULL
);
INSERT INTO event_store_head (id, position) VALUES (1, 0);

-- Events are immutable: refuse edits and deletes at the database too.
-- +goose StatementBegin
CREATE FUNCTION event_store_events_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are immutable';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER event_store_events_no_update BEFORE UPDATE OR DELETE ON event_store_events
    FOR EACH ROW EXECUTE FUNCTION event_store_events_immutable();

-- +goose Down
DROP TABLE event_store_events;
DROP TABLE event_store_streams;
DROP TABLE event_store_head;
DROP FUNCTION event_store_events_immutable();

-- +goose Up
-- The open workbench connections of each operator, per serving process
-- (adapters/realtime): an operator connected to two processes goes offline
-- only when the last connection of all of them has closed. Each process
-- writes its own rows when its count changes, refreshes seen_at every 15 s,
-- and deletes them when it stops; rows a killed process left behind are
-- expired by the others once stale (60 s), which then set the operator
-- offline if no process still serves them.
CREATE TABLE realtime_presence (
    process_id     text        NOT NULL,
    instance_id    text        NOT NULL,
    instance_alias text        NOT NULL,
    owner_id       text        NOT NULL,
    operator_id    bigint      NOT NULL,
    connections    integer     NOT NULL CHECK (connections > 0),
    seen_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (instance_id, operator_id, process_id)
);
CREATE INDEX realtime_presence_seen_at ON realtime_presence (seen_at);

-- +goose Down
DROP TABLE realtime_presence;

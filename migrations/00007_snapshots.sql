-- +goose Up
-- Folded aggregate states, so a command on a long stream (a busy chat's
-- thread) reads the snapshot and the events after it instead of the whole
-- stream. A cache: deleting rows is always safe, the events stay the truth.
CREATE TABLE aggregate_snapshots (
    stream_name text        PRIMARY KEY,
    schema      integer     NOT NULL,
    version     bigint      NOT NULL,
    state       bytea       NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE aggregate_snapshots;

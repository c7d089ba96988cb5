-- +goose Up
-- Who runs each follower role (a projector or a process manager). The truth
-- is the Postgres advisory lock the holder keeps on its dedicated connection
-- (adapters/election); this table only makes it visible to other processes
-- and the CLI. The holder writes its row when it wins the role and refreshes
-- heartbeat_at every few seconds; a graceful stop deletes it. A row whose
-- lock nobody holds is what a dead holder left behind: the next holder
-- overwrites it.
CREATE TABLE follower_leases (
    role         text        PRIMARY KEY,
    holder       text        NOT NULL, -- host:pid:random, one per process
    pid          integer     NOT NULL,
    host         text        NOT NULL,
    acquired_at  timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE follower_leases;

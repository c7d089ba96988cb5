-- +goose Up
-- Events a projector could not apply because of the event's own data (it does
-- not decode, or the read model refuses it: SQLSTATE class 22 or 23). Such an
-- event is parked here, in the transaction that moves the checkpoint past it,
-- so one bad event of one instance cannot stop every tenant's read model. It
-- is never skipped silently: it stays 'parked' until an operator retries it
-- (`projections retry`, 'resolved' once applied) or skips it with a reason
-- (`projections skip`, 'skipped'); rows are kept for audit.
CREATE TABLE projection_parked (
    projector   text        NOT NULL,
    position    bigint      NOT NULL,
    event_id    text        NOT NULL,
    stream_name text        NOT NULL,
    event_type  text        NOT NULL,
    error       text        NOT NULL,
    state       text        NOT NULL DEFAULT 'parked' CHECK (state IN ('parked', 'resolved', 'skipped')),
    attempts    integer     NOT NULL DEFAULT 1,
    reason      text        NOT NULL DEFAULT '',
    parked_at   timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz,
    PRIMARY KEY (projector, position)
);
CREATE INDEX projection_parked_open ON projection_parked (projector, position) WHERE state = 'parked';

-- The Postgres event store's identity: a random id made the first time it is
-- asked for (not here, so that databases cloned from a migrated template each
-- get their own).
CREATE TABLE event_store_identity (
    id         smallint    PRIMARY KEY CHECK (id = 1),
    store_id   text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The event store the read side (checkpoints, parked events, read models,
-- aggregate snapshots) was built from. Positions and revisions mean nothing
-- in another store, so the service refuses to run against a different one.
CREATE TABLE read_side_binding (
    id       smallint    PRIMARY KEY CHECK (id = 1),
    store_id text        NOT NULL,
    bound_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE read_side_binding;
DROP TABLE event_store_identity;
DROP TABLE projection_parked;

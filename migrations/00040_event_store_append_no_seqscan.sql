-- +goose Up
-- The append functions never read the log by a sequential scan (issue 21).
-- Their plans are made once per connection (force_generic_plan) from the
-- statistics of that moment. A young log, analyzed by autovacuum at a few
-- dozen events, made the probes of a stream's revision and of a repeated
-- event id sequential scans, kept until the next ANALYZE invalidated them:
-- as the log grew in between, every append read all of it (measured: 52-55
-- ms per append over 300,000 events, 0.6-1.9 ms once analyzed again). Every
-- probe of these functions has its index (the head, a stream's revision, an
-- event id), so sequential scans are turned off inside them: whatever the
-- statistics say, each probe is an index probe.
ALTER FUNCTION event_store_append(text[], bigint[], int[], uuid[], int[], int[], text[], uuid[], text[], bytea[], bytea[])
    SET enable_seqscan = off;
ALTER FUNCTION event_store_append_one(text, bigint, uuid[], text[], bytea[], bytea[])
    SET enable_seqscan = off;

-- +goose Down
ALTER FUNCTION event_store_append(text[], bigint[], int[], uuid[], int[], int[], text[], uuid[], text[], bytea[], bytea[])
    RESET enable_seqscan;
ALTER FUNCTION event_store_append_one(text, bigint, uuid[], text[], bytea[], bytea[])
    RESET enable_seqscan;

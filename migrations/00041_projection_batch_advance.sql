-- +goose Up
-- The live projector batch claims its checkpoint and moves it in one
-- statement (issue 21). projection_batch_claim (00039) locked the checkpoint
-- row at the position just before the batch, and the batch's last statement
-- but one updated it: a row lock (a WAL record and a dirtied page) and then
-- an update of the same row, per batch of every projector. Measured in the
-- paced run with pg_stat_statements: the claim took 102 µs a call, the
-- update 28 µs.
--
-- projection_batch_advance moves the checkpoint from p_expected to
-- p_position at the start of the batch, and fails with SQLSTATE SO001 (as
-- the claim did) unless it stood at p_expected. The update holds the row's
-- lock to the end of the transaction, as the claim did: a second applier of
-- the same projector waits, then finds the row moved (or, if the first
-- rolled back, where it was) and is refused or goes on. A rollback takes the
-- move back with the batch's rows.
--
-- projection_batch_claim stays for processes of the previous version during
-- an upgrade; both take the same row lock, so they still take turns.
-- +goose StatementBegin
CREATE FUNCTION projection_batch_advance(p_projector text, p_expected bigint, p_position bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE projection_checkpoints SET position = p_position, updated_at = now()
     WHERE projector = p_projector AND position = p_expected;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'projector % is not at position %', p_projector, p_expected USING ERRCODE = 'SO001';
    END IF;
END;
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION projection_batch_advance(text, bigint, bigint);

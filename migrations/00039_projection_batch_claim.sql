-- +goose Up
-- A projector batch in one round trip (issue 21). The live path of a
-- projector sent begin, a locked read of its checkpoint, the batch and
-- commit: four round trips, each a wait for the cores on a busy machine. It
-- now sends them at once, which it can because a batch follows its
-- checkpoint directly (the log's positions are dense): the batch's first
-- statement claims the checkpoint at the position just before the batch.
--
-- projection_batch_claim locks the projector's checkpoint row (as the locked
-- read did, so two appliers of one projector take turns) and fails with
-- SQLSTATE SO001 unless the checkpoint stands at p_expected: the batch was
-- applied already, or the checkpoint moved, or the projector never ran. The
-- rest of the pipelined batch is then skipped by Postgres, the caller rolls
-- back and applies the batch the careful way (projections.ApplyBatch).
-- +goose StatementBegin
CREATE FUNCTION projection_batch_claim(p_projector text, p_expected bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM projection_checkpoints WHERE projector = p_projector AND position = p_expected FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'projector % is not at position %', p_projector, p_expected USING ERRCODE = 'SO001';
    END IF;
END;
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION projection_batch_claim(text, bigint);

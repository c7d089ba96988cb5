-- +goose Up
-- Outbound messages edited or retracted through the integration API: the
-- read model shows the current text (empty once retracted); the events keep
-- every earlier text for the audit history.
ALTER TABLE thread_messages
    ADD COLUMN edited_at    timestamptz,
    ADD COLUMN retracted_at timestamptz;

-- +goose Down
ALTER TABLE thread_messages DROP COLUMN edited_at, DROP COLUMN retracted_at;

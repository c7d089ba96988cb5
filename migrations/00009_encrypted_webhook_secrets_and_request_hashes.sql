-- +goose Up
-- Webhook secrets are stored like bot tokens: AES-256-GCM ciphertext (key:
-- SOCIALOPS_ENCRYPTION_KEY, additional data: instance id and provider). A row
-- holds either form: rows written before this migration keep their plain-text
-- secret and keep working until `serve` (started with the key) encrypts them.
ALTER TABLE webhook_secrets
    ALTER COLUMN secret DROP NOT NULL,
    ADD COLUMN secret_ciphertext bytea,
    ADD COLUMN secret_nonce      bytea,
    ADD CONSTRAINT webhook_secrets_one_form CHECK (
        (secret IS NULL) <> (secret_ciphertext IS NULL)
        AND (secret_ciphertext IS NULL) = (secret_nonce IS NULL)
        AND (secret_nonce IS NULL OR octet_length(secret_nonce) = 12));

-- An Idempotency-Key stands for one request: the SHA-256 of what it asked
-- (thread and text), so the same key with another body is refused instead of
-- replaying the first reply. NULL on rows from before this migration.
ALTER TABLE idempotency_keys ADD COLUMN request_hash bytea;

-- +goose Down
ALTER TABLE idempotency_keys DROP COLUMN request_hash;
-- Encrypted secrets cannot be turned back into plain text here: refuse rather
-- than lose them (set them again after going down, or stay up).
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM webhook_secrets WHERE secret IS NULL) THEN
        RAISE EXCEPTION 'webhook_secrets holds encrypted secrets; delete those rows to migrate down';
    END IF;
END $$;
-- +goose StatementEnd
ALTER TABLE webhook_secrets
    DROP CONSTRAINT webhook_secrets_one_form,
    DROP COLUMN secret_nonce,
    DROP COLUMN secret_ciphertext,
    ALTER COLUMN secret SET NOT NULL;

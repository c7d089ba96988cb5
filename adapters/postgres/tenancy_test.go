package postgres_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/postgres"
	"github.com/socialops/socialops/adapters/postgres/pgtest"
)

func TestWebhookSecretsEncryptedAtRest(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	key := newKey(t)
	tenancy := postgres.NewTenancy(pool, nil).WithEncryptionKey(key)
	inst, err := tenancy.CreateInstance(ctx, "u", "support")
	require.NoError(t, err)
	rows := func() string {
		var s string
		require.NoError(t, pool.QueryRow(ctx, `SELECT coalesce(string_agg(row_to_json(w)::text, E'\n'), '') FROM webhook_secrets w`).Scan(&s))
		return s
	}

	require.NoError(t, tenancy.SetWebhookSecret(ctx, "support", "telegram", "tg-secret-123"))
	assert.NotContains(t, rows(), "tg-secret-123", "the stored value is not the secret")
	// Read back by another process (no cache).
	fresh := postgres.NewTenancy(pool, nil).WithEncryptionKey(key)
	got, found, err := fresh.WebhookSecret(ctx, inst.ID, "telegram")
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, "tg-secret-123", got)

	// Another key does not open it; no key neither stores nor reads.
	_, _, err = postgres.NewTenancy(pool, nil).WithEncryptionKey(newKey(t)).WebhookSecret(ctx, inst.ID, "telegram")
	assert.ErrorIs(t, err, postgres.ErrWrongSecretKey)
	assert.NotContains(t, err.Error(), "tg-secret-123")
	_, _, err = postgres.NewTenancy(pool, nil).WebhookSecret(ctx, inst.ID, "telegram")
	assert.ErrorContains(t, err, postgres.EncryptionKeyVariable)
	err = postgres.NewTenancy(pool, nil).SetWebhookSecret(ctx, "support", "github", "gh-secret-456")
	assert.ErrorContains(t, err, postgres.EncryptionKeyVariable)

	// A ciphertext moved to another row does not open there.
	_, err = pool.Exec(ctx, `INSERT INTO webhook_secrets (instance_id, provider, secret_ciphertext, secret_nonce)
		SELECT instance_id, 'github', secret_ciphertext, secret_nonce FROM webhook_secrets WHERE provider = 'telegram'`)
	require.NoError(t, err)
	_, _, err = fresh.WebhookSecret(ctx, inst.ID, "github")
	assert.ErrorIs(t, err, postgres.ErrWrongSecretKey)
	_, err = pool.Exec(ctx, `DELETE FROM webhook_secrets WHERE provider = 'github'`)
	require.NoError(t, err)

	// A plain-text row from before encryption keeps working, and is encrypted on request.
	_, err = pool.Exec(ctx, `INSERT INTO webhook_secrets (instance_id, provider, secret) VALUES ($1, 'github', 'legacy-plain-secret')`, inst.ID)
	require.NoError(t, err)
	got, found, err = postgres.NewTenancy(pool, nil).WebhookSecret(ctx, inst.ID, "github")
	require.NoError(t, err, "a plain row needs no key")
	require.True(t, found)
	assert.Equal(t, "legacy-plain-secret", got)
	plain, encrypted, err := fresh.WebhookSecretCounts(ctx)
	require.NoError(t, err)
	assert.Equal(t, [2]int{1, 1}, [2]int{plain, encrypted})

	n, err := fresh.EncryptPlainWebhookSecrets(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.NotContains(t, rows(), "legacy-plain-secret")
	got, _, err = postgres.NewTenancy(pool, nil).WithEncryptionKey(key).WebhookSecret(ctx, inst.ID, "github")
	require.NoError(t, err)
	assert.Equal(t, "legacy-plain-secret", got)
	n, err = fresh.EncryptPlainWebhookSecrets(ctx)
	require.NoError(t, err)
	assert.Equal(t, 0, n, "nothing left in plain text")
}

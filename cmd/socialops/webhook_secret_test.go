package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/postgres/pgtest"
)

// storedSecretRows is every webhook_secrets row as text, whatever its columns.
func storedSecretRows(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var rows string
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT coalesce(string_agg(row_to_json(w)::text, E'\n'), '') FROM webhook_secrets w`).Scan(&rows))
	return rows
}

func TestWebhookSecretsStoredEncrypted(t *testing.T) {
	ctx := context.Background()
	envm := map[string]string{
		"SOCIALOPS_DATABASE_URL":   pgtest.NewDatabase(t),
		"SOCIALOPS_ENCRYPTION_KEY": testEncryptionKey,
		"SOCIALOPS_LOG_LEVEL":      "warn",
	}
	cli(t, envm, "instance", "create", "--owner", "user-1", "--alias", "support")
	file := filepath.Join(t.TempDir(), "secret")
	require.NoError(t, os.WriteFile(file, []byte("from-a-file-secret-123\n"), 0o600))

	code, stdout, stderr := runCLI(envm, "webhook-secret", "set", "--alias", "support", "--provider", "generic-webhook", "--secret-file", file)
	require.Equal(t, 0, code, stderr)
	assert.Empty(t, stdout)
	code, stdout, stderr = runCLI(envm, "webhook-secret", "set", "--alias", "support", "--provider", "telegram", "--secret", "on-the-command-line-1")
	require.Equal(t, 0, code, stderr)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, "--secret-file", "--secret still works, with a warning")
	assert.NotContains(t, stderr, "on-the-command-line-1")

	pool, err := pgxpool.New(ctx, envm["SOCIALOPS_DATABASE_URL"])
	require.NoError(t, err)
	defer pool.Close()
	rows := storedSecretRows(t, pool)
	assert.NotContains(t, rows, "from-a-file-secret-123")
	assert.NotContains(t, rows, "on-the-command-line-1")

	// A row stored in plain text before encryption existed keeps working...
	var instanceID string
	require.NoError(t, pool.QueryRow(ctx, `SELECT instance_id FROM instances WHERE alias = 'support'`).Scan(&instanceID))
	_, err = pool.Exec(ctx, `INSERT INTO webhook_secrets (instance_id, provider, secret) VALUES ($1, 'github', 'legacy-plain-secret')`, instanceID)
	require.NoError(t, err)
	cfg, err := loadConfig(env(envm))
	require.NoError(t, err)
	readBack := func() map[string]string {
		a, err := openApp(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		require.NoError(t, err)
		defer a.Close()
		out := map[string]string{}
		for _, p := range []string{"generic-webhook", "telegram", "github"} {
			s, found, err := a.tenancy.WebhookSecret(ctx, instanceID, p)
			require.NoError(t, err)
			require.True(t, found, p)
			out[p] = s
		}
		return out
	}
	want := map[string]string{"generic-webhook": "from-a-file-secret-123", "telegram": "on-the-command-line-1", "github": "legacy-plain-secret"}
	assert.Equal(t, want, readBack())

	// ...and serve encrypts it at start.
	envm["SOCIALOPS_HTTP_ADDR"] = freeAddr(t)
	_, stop := startServe(t, envm)
	assert.Equal(t, 0, stop())
	assert.NotContains(t, storedSecretRows(t, pool), "legacy-plain-secret")
	assert.Equal(t, want, readBack())

	// Without the key a secret cannot be stored.
	delete(envm, "SOCIALOPS_ENCRYPTION_KEY")
	code, _, stderr = runCLI(envm, "webhook-secret", "set", "--alias", "support", "--provider", "github", "--secret-file", file)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "SOCIALOPS_ENCRYPTION_KEY")
}

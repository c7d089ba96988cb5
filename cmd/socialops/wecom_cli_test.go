package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/postgres/pgtest"
)

func TestWeComSetStoresSettingsEncrypted(t *testing.T) {
	ctx := context.Background()
	envm := map[string]string{
		"SOCIALOPS_DATABASE_URL":   pgtest.NewDatabase(t),
		"SOCIALOPS_ENCRYPTION_KEY": testEncryptionKey,
		"SOCIALOPS_LOG_LEVEL":      "warn",
	}
	cli(t, envm, "instance", "create", "--owner", "user-1", "--alias", "support")
	file := filepath.Join(t.TempDir(), "secret")
	require.NoError(t, os.WriteFile(file, []byte("the-app-secret-0123456789\n"), 0o600))
	const aesKey = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"

	code, _, stderr := runCLI(envm, "wecom", "set", "--alias", "support", "--corp-id", "ww_corp", "--agent-id", "1000002",
		"--token", "QDG6eK", "--aes-key", aesKey[:42])
	assert.NotEqual(t, 0, code, "a 42-character EncodingAESKey is refused")
	assert.Contains(t, stderr, "EncodingAESKey")
	code, _, _ = runCLI(envm, "wecom", "set", "--alias", "support", "--corp-id", "ww_corp", "--token", "QDG6eK", "--aes-key", aesKey)
	assert.NotEqual(t, 0, code, "--agent-id is required")

	code, stdout, stderr := runCLI(envm, "wecom", "set", "--alias", "support", "--corp-id", "ww_corp", "--agent-id", "1000002",
		"--token", "QDG6eK", "--aes-key", aesKey, "--secret-file", file)
	require.Equal(t, 0, code, stderr)
	assert.Empty(t, stdout)

	pool, err := pgxpool.New(ctx, envm["SOCIALOPS_DATABASE_URL"])
	require.NoError(t, err)
	defer pool.Close()
	var row string
	require.NoError(t, pool.QueryRow(ctx, `SELECT row_to_json(w)::text FROM wecom_settings w`).Scan(&row))
	assert.Contains(t, row, "ww_corp")
	for _, secret := range []string{"QDG6eK", aesKey, "the-app-secret"} {
		assert.NotContains(t, row, secret, "stored encrypted")
	}
	cfg, err := loadConfig(env(envm))
	require.NoError(t, err)
	a, err := openApp(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	defer a.Close()
	inst, err := a.tenancy.InstanceByAlias(ctx, "support")
	require.NoError(t, err)
	s, found, err := a.tenancy.WeComSettings(ctx, inst.ID)
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, "QDG6eK", s.Token)
	assert.Equal(t, aesKey, s.AESKey)
	assert.Equal(t, "the-app-secret-0123456789", s.Secret)
	assert.Equal(t, int64(1000002), s.AgentID)
}

func TestWeComMaxAgeVariable(t *testing.T) {
	for v, want := range map[string]time.Duration{"": 5 * time.Minute, "0": -1, "10m": 10 * time.Minute} {
		got, err := weComMaxAgeVar(func(string) string { return v })
		require.NoError(t, err, v)
		assert.Equal(t, want, got, v)
	}
	_, err := weComMaxAgeVar(func(string) string { return "-1m" })
	require.Error(t, err)
}

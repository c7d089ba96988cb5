package main

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/postgres/pgtest"
)

// The fixed interface of issue 15: apikey create|list|revoke, oauth-client
// create and signing-key create.
func TestCredentialCLI(t *testing.T) {
	db := pgtest.NewDatabase(t)
	envm := map[string]string{"SOCIALOPS_DATABASE_URL": db, "SOCIALOPS_ENCRYPTION_KEY": testEncryptionKey}
	code, _, stderr := runCLI(envm, "instance", "create", "--owner", "user-1", "--alias", "keys")
	require.Equal(t, 0, code, stderr)

	code, stdout, stderr := runCLI(envm, "apikey", "create", "--owner", "user-1", "--scopes", "socialops:read,socialops:write",
		"--instance", "keys", "--name", "crm", "--expires", "720h", "--allow-ip", "10.0.0.0/8,2001:db8::/32", "--rate", "10/s")
	require.Equal(t, 0, code, stderr)
	key := strings.TrimSpace(stdout)
	assert.True(t, strings.HasPrefix(key, "sk_"), key)
	assert.NotContains(t, stderr, key, "the key is printed once, on stdout only")

	code, stdout, stderr = runCLI(envm, "oauth-client", "create", "--alias", "keys", "--scopes", "socialops:read")
	require.Equal(t, 0, code, stderr)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	require.Len(t, lines, 2, stdout)
	assert.True(t, strings.HasPrefix(lines[0], "soc_"))
	assert.True(t, strings.HasPrefix(lines[1], "socs_"))

	code, stdout, stderr = runCLI(envm, "signing-key", "create", "--alias", "keys", "--scopes", "socialops:read")
	require.Equal(t, 0, code, stderr)
	lines = strings.Split(strings.TrimSpace(stdout), "\n")
	require.Len(t, lines, 2, stdout)
	assert.True(t, strings.HasPrefix(lines[0], "AK"))
	assert.True(t, strings.HasPrefix(lines[1], "sss_"))

	code, stdout, stderr = runCLI(envm, "apikey", "list", "--owner", "user-1")
	require.Equal(t, 0, code, stderr)
	assert.NotContains(t, stdout, key)
	assert.NotContains(t, stdout, lines[1])
	rows := strings.Split(strings.TrimSpace(stdout), "\n")
	require.Len(t, rows, 4, stdout)
	assert.Contains(t, rows[0], "LAST USED")
	var apiKeyRow string
	for _, r := range rows[1:] {
		if strings.Contains(r, " api_key ") {
			apiKeyRow = r
		}
	}
	require.NotEmpty(t, apiKeyRow, stdout)
	assert.Contains(t, apiKeyRow, "crm")
	assert.Contains(t, apiKeyRow, "keys")
	assert.Contains(t, apiKeyRow, "active")
	id := strings.Fields(apiKeyRow)[0]

	code, _, stderr = runCLI(envm, "apikey", "revoke", "--id", id)
	require.Equal(t, 0, code, stderr)
	code, stdout, _ = runCLI(envm, "apikey", "list", "--owner", "user-1")
	require.Equal(t, 0, code)
	assert.Contains(t, stdout, "revoked")

	conn, err := pgx.Connect(context.Background(), db)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var cidrs []string
	var rate float64
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT allowed_cidrs, rate_per_second FROM api_keys WHERE key_id = $1`, id).Scan(&cidrs, &rate))
	assert.Equal(t, []string{"10.0.0.0/8", "2001:db8::/32"}, cidrs)
	assert.Equal(t, 10.0, rate)

	// Bad input: a usage error or a precise error, and nothing stored.
	var before int
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT count(*) FROM api_keys`).Scan(&before))
	for _, args := range [][]string{
		{"apikey", "create", "--owner", "user-1"},
		{"apikey", "create", "--owner", "user-1", "--scopes", "socialops:root"},
		{"apikey", "create", "--owner", "user-1", "--scopes", "socialops:read", "--rate", "fast"},
		{"apikey", "create", "--owner", "user-1", "--scopes", "socialops:read", "--allow-ip", "300.1.1.1"},
		{"apikey", "create", "--owner", "user-1", "--scopes", "socialops:read", "--operator", "7"},
		{"apikey", "create", "--owner", "user-2", "--scopes", "socialops:read", "--instance", "keys"},
		{"oauth-client", "create", "--scopes", "socialops:read"},
		{"apikey", "revoke"},
	} {
		code, _, _ := runCLI(envm, args...)
		assert.NotEqual(t, 0, code, args)
	}
	var after int
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT count(*) FROM api_keys`).Scan(&after))
	assert.Equal(t, before, after)
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"", "10", "10/s", "600/m", "1/h", "0", "-1/s", "1e9/s", "NaN", "5/x", "/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := parseRate(s)
		if err != nil {
			return
		}
		if s != "" && !(r > 0) {
			t.Fatalf("parseRate(%q) = %v without an error", s, r)
		}
	})
}

// The fixed interface of issue 13: bot create prints the id, the token and
// the push signing secret, one per line.
func TestBotCLI(t *testing.T) {
	db := pgtest.NewDatabase(t)
	envm := map[string]string{"SOCIALOPS_DATABASE_URL": db, "SOCIALOPS_ENCRYPTION_KEY": testEncryptionKey}
	code, _, stderr := runCLI(envm, "instance", "create", "--owner", "user-1", "--alias", "botty")
	require.Equal(t, 0, code, stderr)
	code, stdout, stderr := runCLI(envm, "bot", "create", "--alias", "botty", "--name", "FAQ", "--webhook-url", "https://bot.example/hook",
		"--events", "message,dialog_open,member_join,member_leave", "--mode", "observer")
	require.Equal(t, 0, code, stderr)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	require.Len(t, lines, 3, stdout)
	assert.True(t, strings.HasPrefix(lines[0], "sobot_"))
	assert.True(t, strings.HasPrefix(lines[1], "sbt_"))
	assert.True(t, strings.HasPrefix(lines[2], "whsec_"))
	assert.NotContains(t, stderr, lines[1])
	code, stdout, _ = runCLI(envm, "bot", "list", "--alias", "botty")
	require.Equal(t, 0, code)
	assert.Contains(t, stdout, lines[0])
	assert.Contains(t, stdout, "observer")
	assert.NotContains(t, stdout, lines[1])
	for _, args := range [][]string{
		{"bot", "create", "--alias", "botty", "--name", "X"},
		{"bot", "create", "--alias", "botty", "--name", "X", "--webhook-url", "https://b.example", "--mode", "loud"},
		{"bot", "create", "--alias", "nope", "--name", "X", "--webhook-url", "https://b.example"},
		{"bot", "rotate-token", "--alias", "botty"},
	} {
		code, _, _ := runCLI(envm, args...)
		assert.NotEqual(t, 0, code, args)
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/postgres"
	"github.com/socialops/socialops/adapters/postgres/pgtest"
)

const (
	testJWTSecret = "a-console-secret-of-at-least-32-bytes!"
	testBotToken  = "7012345678:AAHk2-testtokenabcdefghijklmnopqrstu_vw"
)

var testEncryptionKey = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))

// runCLI runs one sub-command in-process and returns its exit code and output.
func runCLI(envm map[string]string, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code = run(ctx, args, env(envm), &out, &errb)
	return code, out.String(), errb.String()
}

func TestTokenMintNeedsNoDatabase(t *testing.T) {
	envm := map[string]string{"SOCIALOPS_JWT_SECRET": testJWTSecret}
	code, stdout, stderr := runCLI(envm, "token", "mint", "--user", "user-1", "--permissions", "service:read, service:manage", "--ttl", "2h")
	require.Equal(t, 0, code, stderr)
	raw := strings.TrimSpace(stdout)
	assert.Equal(t, raw+"\n", stdout, "prints only the token")

	type claims struct {
		Permissions []string `json:"permissions"`
		jwt.RegisteredClaims
	}
	var c claims
	tok, err := jwt.ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return []byte(testJWTSecret), nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired())
	require.NoError(t, err)
	assert.True(t, tok.Valid)
	assert.Equal(t, "user-1", c.Subject)
	assert.Equal(t, []string{"service:read", "service:manage"}, c.Permissions)
	assert.WithinDuration(t, time.Now().Add(2*time.Hour), c.ExpiresAt.Time, time.Minute)

	// Default ttl: one hour.
	code, stdout, stderr = runCLI(envm, "token", "mint", "--user", "user-1", "--permissions", "service:read")
	require.Equal(t, 0, code, stderr)
	_, err = jwt.ParseWithClaims(strings.TrimSpace(stdout), &c, func(*jwt.Token) (any, error) { return []byte(testJWTSecret), nil })
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(time.Hour), c.ExpiresAt.Time, time.Minute)

	// Another secret does not verify it.
	_, err = jwt.Parse(strings.TrimSpace(stdout), func(*jwt.Token) (any, error) { return []byte("another-secret-another-secret-xx"), nil })
	assert.ErrorIs(t, err, jwt.ErrTokenSignatureInvalid)
}

func TestTokenMintRefusals(t *testing.T) {
	envm := map[string]string{"SOCIALOPS_JWT_SECRET": testJWTSecret}
	cases := []struct {
		name string
		env  map[string]string
		args []string
		says string
	}{
		{"no secret", map[string]string{}, []string{"--user", "u", "--permissions", "service:read"}, "SOCIALOPS_JWT_SECRET"},
		{"short secret", map[string]string{"SOCIALOPS_JWT_SECRET": "short"}, []string{"--user", "u", "--permissions", "service:read"}, "SOCIALOPS_JWT_SECRET"},
		{"unknown permission", envm, []string{"--user", "u", "--permissions", "service:read,service:everything"}, `unknown permission "service:everything"`},
		{"ttl too long", envm, []string{"--user", "u", "--permissions", "service:read", "--ttl", "721h"}, "--ttl"},
		{"negative ttl", envm, []string{"--user", "u", "--permissions", "service:read", "--ttl", "-1h"}, "--ttl"},
		{"no user", envm, []string{"--permissions", "service:read"}, "--user"},
		{"no permissions", envm, []string{"--user", "u"}, "--permissions"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(tc.env, append([]string{"token", "mint"}, tc.args...)...)
			assert.NotEqual(t, 0, code)
			assert.Empty(t, stdout)
			assert.Contains(t, stderr, tc.says)
		})
	}
}

func writeTokenFile(t *testing.T, content string) string {
	path := filepath.Join(t.TempDir(), "bot-token")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

func TestAccountCreateNeverEchoesTheToken(t *testing.T) {
	db := pgtest.NewDatabase(t)
	envm := map[string]string{"SOCIALOPS_DATABASE_URL": db, "SOCIALOPS_ENCRYPTION_KEY": testEncryptionKey, "SOCIALOPS_LOG_LEVEL": "debug"}
	file := writeTokenFile(t, "  "+testBotToken+"\n")

	code, stdout, stderr := runCLI(envm, "account", "create", "--owner", "user-1", "--provider", "telegram-bot", "--token-file", file)
	require.Equal(t, 0, code, stderr)
	assert.Regexp(t, regexp.MustCompile(`^conn_[A-Za-z0-9_-]+\n$`), stdout)
	assert.NotContains(t, stdout+stderr, testBotToken)
	id := strings.TrimSpace(stdout)

	code, stdout, stderr = runCLI(envm, "account", "set-status", "--id", id, "--status", "inactive")
	require.Equal(t, 0, code, stderr)
	assert.Empty(t, stdout)

	pool, err := postgres.Connect(context.Background(), db)
	require.NoError(t, err)
	defer pool.Close()
	key, _ := base64.StdEncoding.DecodeString(testEncryptionKey)
	accounts := postgres.NewAccounts(pool, key, nil)
	acc, err := accounts.Get(context.Background(), id)
	require.NoError(t, err)
	assert.Equal(t, "user-1", acc.OwnerID)
	assert.Equal(t, postgres.AccountInactive, acc.Status)
	token, err := accounts.BotToken(context.Background(), id)
	require.NoError(t, err)
	assert.Equal(t, testBotToken, token, "stored trimmed")

	// Refusals: none of them shows the token either.
	badFile := writeTokenFile(t, "not-a-bot-token "+testBotToken)
	refusals := []struct {
		name string
		env  map[string]string
		args []string
		says string
	}{
		{"no key", map[string]string{"SOCIALOPS_DATABASE_URL": db}, []string{"create", "--owner", "user-1", "--token-file", file}, "SOCIALOPS_ENCRYPTION_KEY"},
		{"bad token", envm, []string{"create", "--owner", "user-1", "--token-file", badFile}, "invalid_field"},
		{"bad provider", envm, []string{"create", "--owner", "user-1", "--provider", "slack", "--token-file", file}, "invalid_field"},
		{"missing file", envm, []string{"create", "--owner", "user-1", "--token-file", file + ".missing"}, "--token-file"},
		{"bad status", envm, []string{"set-status", "--id", id, "--status", "paused"}, "invalid_field"},
		{"unknown account", envm, []string{"set-status", "--id", "conn_nope", "--status", "active"}, "account_not_found"},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(tc.env, append([]string{"account"}, tc.args...)...)
			assert.NotEqual(t, 0, code)
			assert.Empty(t, stdout)
			assert.Contains(t, stderr, tc.says)
			assert.NotContains(t, stderr, testBotToken)
			assert.NotContains(t, stderr, "AAHk2-testtoken")
		})
	}
}

func TestServeRefusesAccountsWithoutEncryptionKey(t *testing.T) {
	db := pgtest.NewDatabase(t)
	withKey := map[string]string{"SOCIALOPS_DATABASE_URL": db, "SOCIALOPS_ENCRYPTION_KEY": testEncryptionKey}
	code, _, stderr := runCLI(withKey, "account", "create", "--owner", "user-1", "--token-file", writeTokenFile(t, testBotToken))
	require.Equal(t, 0, code, stderr)

	// runCLI bounds the run: a serve that does not refuse fails here, not hangs.
	code, _, stderr = runCLI(map[string]string{"SOCIALOPS_DATABASE_URL": db, "SOCIALOPS_HTTP_ADDR": freeAddr(t)}, "serve")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "SOCIALOPS_ENCRYPTION_KEY")
	assert.Contains(t, stderr, "refusing to start")
}

func TestConsoleConfig(t *testing.T) {
	base := map[string]string{"SOCIALOPS_DATABASE_URL": "postgres://u@127.0.0.1:5432/db"}
	cfg, err := loadConfig(env(base))
	require.NoError(t, err)
	assert.Nil(t, cfg.JWTSecret)
	assert.Nil(t, cfg.EncryptionKey)

	set := map[string]string{"SOCIALOPS_JWT_SECRET": testJWTSecret, "SOCIALOPS_ENCRYPTION_KEY": testEncryptionKey}
	for k, v := range base {
		set[k] = v
	}
	cfg, err = loadConfig(env(set))
	require.NoError(t, err)
	assert.Equal(t, []byte(testJWTSecret), cfg.JWTSecret)
	assert.Equal(t, bytes.Repeat([]byte{7}, 32), cfg.EncryptionKey)

	bad := map[string]string{
		"SOCIALOPS_JWT_SECRET":     "0123456789012345678901234567890", // 31 bytes
		"SOCIALOPS_ENCRYPTION_KEY": "not base64 at all!!" + testEncryptionKey,
	}
	for variable, value := range bad {
		m := map[string]string{variable: value}
		for k, v := range base {
			m[k] = v
		}
		_, err := loadConfig(env(m))
		var ce *ConfigError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, variable, ce.Variable)
		assert.NotContains(t, err.Error(), value, "config errors never quote a secret")
	}
	// URL-safe base64 and 64-byte keys are refused too.
	for _, v := range []string{base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xff}, 32)), base64.StdEncoding.EncodeToString(make([]byte, 64))} {
		m := map[string]string{"SOCIALOPS_ENCRYPTION_KEY": v}
		for k, val := range base {
			m[k] = val
		}
		_, err := loadConfig(env(m))
		assert.ErrorContains(t, err, "SOCIALOPS_ENCRYPTION_KEY")
	}
}

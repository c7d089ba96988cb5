package postgres_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/postgres"
	"github.com/socialops/socialops/adapters/postgres/pgtest"
	"github.com/socialops/socialops/domain"
)

const botToken = "123456789:AAE_abcdefghijklmnopqrstuvwxyz-0123456"

func newKey(t *testing.T) []byte {
	key := make([]byte, 32)
	_, err := rand.Read(key)
	require.NoError(t, err)
	return key
}

func TestAccountsRoundTrip(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	accounts := postgres.NewAccounts(pool, newKey(t), nil)

	acc, err := accounts.Create(ctx, "user-1", postgres.ProviderTelegramBot, botToken)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(acc.ID, "conn_"), acc.ID)
	assert.Equal(t, "user-1", acc.OwnerID)
	assert.Equal(t, postgres.ProviderTelegramBot, acc.Provider)
	assert.Equal(t, postgres.AccountActive, acc.Status)
	assert.False(t, acc.CreatedAt.IsZero())

	got, err := accounts.Get(ctx, acc.ID)
	require.NoError(t, err)
	assert.Equal(t, acc.ID, got.ID)
	assert.Equal(t, acc.OwnerID, got.OwnerID)
	assert.Equal(t, acc.Status, got.Status)
	assert.True(t, acc.CreatedAt.Equal(got.CreatedAt))

	token, err := accounts.BotToken(ctx, acc.ID)
	require.NoError(t, err)
	assert.Equal(t, botToken, token)

	require.NoError(t, accounts.SetStatus(ctx, acc.ID, postgres.AccountInactive))
	got, err = accounts.Get(ctx, acc.ID)
	require.NoError(t, err)
	assert.Equal(t, postgres.AccountInactive, got.Status)
	require.NoError(t, accounts.SetStatus(ctx, acc.ID, postgres.AccountActive))

	second, err := accounts.Create(ctx, "user-1", postgres.ProviderTelegramBot, "42:"+strings.Repeat("x", 40))
	require.NoError(t, err)
	_, err = accounts.Create(ctx, "user-2", postgres.ProviderTelegramBot, botToken)
	require.NoError(t, err)

	n, err := accounts.Count(ctx)
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	list, err := accounts.ListByOwner(ctx, "user-1")
	require.NoError(t, err)
	require.Len(t, list, 2)
	assert.Equal(t, []string{acc.ID, second.ID}, []string{list[0].ID, list[1].ID})
	list, err = accounts.ListByOwner(ctx, "nobody")
	require.NoError(t, err)
	assert.Empty(t, list)
}

func TestAccountsStoreOnlyCiphertext(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	accounts := postgres.NewAccounts(pool, newKey(t), nil)
	a, err := accounts.Create(ctx, "user-1", postgres.ProviderTelegramBot, botToken)
	require.NoError(t, err)
	b, err := accounts.Create(ctx, "user-1", postgres.ProviderTelegramBot, botToken)
	require.NoError(t, err)

	var ciphertext, nonce []byte
	require.NoError(t, pool.QueryRow(ctx, `SELECT token_ciphertext, token_nonce FROM connected_accounts WHERE account_id = $1`, a.ID).Scan(&ciphertext, &nonce))
	assert.Len(t, nonce, 12)
	assert.NotContains(t, string(ciphertext), botToken)
	assert.False(t, bytes.Contains(ciphertext, []byte(strings.SplitN(botToken, ":", 2)[1])))
	// Same token, fresh nonce: different ciphertexts.
	var other []byte
	require.NoError(t, pool.QueryRow(ctx, `SELECT token_ciphertext FROM connected_accounts WHERE account_id = $1`, b.ID).Scan(&other))
	assert.NotEqual(t, ciphertext, other)

	// No column holds the token in clear.
	var clear bool
	require.NoError(t, pool.QueryRow(ctx, `SELECT bool_or(strpos(t::text, $1) > 0) FROM connected_accounts t`, botToken).Scan(&clear))
	assert.False(t, clear)

	// The account id is bound to the ciphertext: moving a token to another row fails.
	_, err = pool.Exec(ctx, `UPDATE connected_accounts SET token_ciphertext = $2, token_nonce = $3 WHERE account_id = $1`, b.ID, ciphertext, nonce)
	require.NoError(t, err)
	_, err = accounts.BotToken(ctx, b.ID)
	assert.ErrorIs(t, err, postgres.ErrWrongEncryptionKey)
}

func TestAccountsWrongOrMissingKey(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	acc, err := postgres.NewAccounts(pool, newKey(t), nil).Create(ctx, "user-1", postgres.ProviderTelegramBot, botToken)
	require.NoError(t, err)

	_, err = postgres.NewAccounts(pool, newKey(t), nil).BotToken(ctx, acc.ID)
	require.ErrorIs(t, err, postgres.ErrWrongEncryptionKey)
	assert.Contains(t, err.Error(), "SOCIALOPS_ENCRYPTION_KEY")
	assert.NotContains(t, err.Error(), botToken)

	keyless := postgres.NewAccounts(pool, nil, nil)
	_, err = keyless.BotToken(ctx, acc.ID)
	require.ErrorIs(t, err, postgres.ErrNoEncryptionKey)
	_, err = keyless.Create(ctx, "user-1", postgres.ProviderTelegramBot, botToken)
	require.ErrorIs(t, err, postgres.ErrNoEncryptionKey)
	assert.Contains(t, err.Error(), "SOCIALOPS_ENCRYPTION_KEY")
	// Without the key, accounts can still be read and counted.
	_, err = keyless.Get(ctx, acc.ID)
	require.NoError(t, err)
	n, err := keyless.Count(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)

	_, err = postgres.NewAccounts(pool, make([]byte, 16), nil).Create(ctx, "user-1", postgres.ProviderTelegramBot, botToken)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "SOCIALOPS_ENCRYPTION_KEY must be 32 bytes")
}

func TestAccountsValidation(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	accounts := postgres.NewAccounts(pool, newKey(t), nil)

	cases := map[string]struct {
		owner, provider, token string
		want                   *domain.Error
	}{
		"no owner":           {"", postgres.ProviderTelegramBot, botToken, domain.ErrMissingField},
		"unknown provider":   {"user-1", "slack-bot", botToken, domain.ErrInvalidField},
		"empty token":        {"user-1", postgres.ProviderTelegramBot, "", domain.ErrInvalidField},
		"no bot id":          {"user-1", postgres.ProviderTelegramBot, "AAE_abcdefghijklmnopqrstuvwxyz-0123456", domain.ErrInvalidField},
		"secret too short":   {"user-1", postgres.ProviderTelegramBot, "123:short-secret", domain.ErrInvalidField},
		"bad characters":     {"user-1", postgres.ProviderTelegramBot, "123:AAE abcdefghijklmnopqrstuvwxyz/0123456", domain.ErrInvalidField},
		"letters in bot id":  {"user-1", postgres.ProviderTelegramBot, "12a:AAE_abcdefghijklmnopqrstuvwxyz-0123456", domain.ErrInvalidField},
		"surrounding spaces": {"user-1", postgres.ProviderTelegramBot, " " + botToken + "\n", domain.ErrInvalidField},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := accounts.Create(ctx, tc.owner, tc.provider, tc.token)
			require.ErrorIs(t, err, tc.want)
			if tc.token != "" {
				assert.NotContains(t, err.Error(), strings.TrimSpace(tc.token), "errors never quote the token")
			}
		})
	}

	_, err := accounts.Get(ctx, "conn_missing")
	assert.ErrorIs(t, err, postgres.ErrAccountNotFound)
	_, err = accounts.BotToken(ctx, "conn_missing")
	assert.ErrorIs(t, err, postgres.ErrAccountNotFound)
	assert.ErrorIs(t, accounts.SetStatus(ctx, "conn_missing", postgres.AccountInactive), postgres.ErrAccountNotFound)

	acc, err := accounts.Create(ctx, "user-1", postgres.ProviderTelegramBot, botToken)
	require.NoError(t, err)
	err = accounts.SetStatus(ctx, acc.ID, "paused")
	assert.ErrorIs(t, err, domain.ErrInvalidField)
	var de *domain.Error
	require.True(t, errors.As(err, &de))
	assert.Contains(t, de.Message, "paused")
	n, err := accounts.Count(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "invalid input stores nothing")
}

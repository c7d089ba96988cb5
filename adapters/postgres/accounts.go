package postgres

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/socialops/socialops/domain"
)

// Connected account providers and statuses.
const (
	ProviderTelegramBot = "telegram-bot"

	AccountActive   = "active"
	AccountInactive = "inactive"
)

// EncryptionKeyVariable names the setting that holds the key of stored tokens.
const EncryptionKeyVariable = "SOCIALOPS_ENCRYPTION_KEY"

// Connected account errors. ErrAccountNotFound is a domain error (a 404 on
// the HTTP side); the key errors are server misconfiguration, not the caller's.
var (
	ErrAccountNotFound = &domain.Error{Code: "account_not_found", Message: "no such connected account"}
	// ErrNoEncryptionKey: tokens cannot be stored or read without the key.
	ErrNoEncryptionKey = errors.New(EncryptionKeyVariable + " is not set: connected account tokens cannot be encrypted or decrypted")
	// ErrWrongEncryptionKey: the stored ciphertext does not open with the configured key.
	ErrWrongEncryptionKey = errors.New("the bot token does not decrypt with " + EncryptionKeyVariable + ": it is not the key the token was stored with (or the row was altered)")
)

// A bot token is "<bot id>:<secret>", the secret at least 35 URL-safe characters.
var telegramBotTokenPattern = regexp.MustCompile(`^[0-9]{1,20}:[A-Za-z0-9_-]{35,128}$`)

// Account is a connected account, without its credentials.
type Account struct {
	ID        string
	OwnerID   string
	Provider  string
	Status    string
	CreatedAt time.Time
}

// Accounts stores connected accounts, their tokens encrypted with AES-256-GCM.
// Tokens leave it only through BotToken.
type Accounts struct {
	pool   *pgxpool.Pool
	aead   cipher.AEAD // nil without a usable key
	keyErr error       // why aead is nil
	random io.Reader
}

// NewAccounts returns the connected accounts repository. key is the 32-byte
// AES-256 key (nil when SOCIALOPS_ENCRYPTION_KEY is unset: then accounts can be
// listed and counted, but not created nor their tokens read). random supplies
// ids and nonces (crypto/rand when nil).
func NewAccounts(pool *pgxpool.Pool, key []byte, random io.Reader) *Accounts {
	if random == nil {
		random = domain.CryptoRandom
	}
	a := &Accounts{pool: pool, random: random}
	switch {
	case len(key) == 0:
		a.keyErr = ErrNoEncryptionKey
	case len(key) != 32:
		a.keyErr = fmt.Errorf("%s must be 32 bytes (AES-256), got %d", EncryptionKeyVariable, len(key))
	default:
		block, err := aes.NewCipher(key)
		if err == nil {
			a.aead, err = cipher.NewGCM(block)
		}
		if err != nil {
			a.keyErr = fmt.Errorf("%s: %w", EncryptionKeyVariable, err)
		}
	}
	return a
}

// Create stores a connected account with its token encrypted, active.
func (a *Accounts) Create(ctx context.Context, ownerID, provider, token string) (Account, error) {
	if a.aead == nil {
		return Account{}, fmt.Errorf("create connected account: %w", a.keyErr)
	}
	if strings.TrimSpace(ownerID) == "" {
		return Account{}, domain.Errorf(domain.ErrMissingField, "owner is required")
	}
	if provider != ProviderTelegramBot {
		return Account{}, domain.Errorf(domain.ErrInvalidField, "provider %q is not supported for connected accounts (supported: %s)", provider, ProviderTelegramBot)
	}
	// The message must never quote the token.
	if !telegramBotTokenPattern.MatchString(token) {
		return Account{}, domain.Errorf(domain.ErrInvalidField, "the token is not a Telegram bot token: expected <bot id digits>:<35 to 128 characters of A-Z, a-z, 0-9, '_' and '-'>")
	}
	acc := Account{ID: domain.RandomID("conn_", a.random), OwnerID: ownerID, Provider: provider, Status: AccountActive}
	nonce := make([]byte, a.aead.NonceSize())
	if _, err := io.ReadFull(a.random, nonce); err != nil {
		return Account{}, fmt.Errorf("create connected account: nonce: %w", err)
	}
	ciphertext := a.aead.Seal(nil, nonce, []byte(token), []byte(acc.ID))
	err := a.pool.QueryRow(ctx, `INSERT INTO connected_accounts (account_id, owner_id, provider, status, token_ciphertext, token_nonce)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING created_at`,
		acc.ID, acc.OwnerID, acc.Provider, acc.Status, ciphertext, nonce).Scan(&acc.CreatedAt)
	if err != nil {
		return Account{}, fmt.Errorf("create connected account: %w", err)
	}
	return acc, nil
}

const accountColumns = `account_id, owner_id, provider, status, created_at`

func scanAccount(row pgx.Row) (Account, error) {
	var acc Account
	err := row.Scan(&acc.ID, &acc.OwnerID, &acc.Provider, &acc.Status, &acc.CreatedAt)
	return acc, err
}

// Get returns an account; ErrAccountNotFound when there is none.
func (a *Accounts) Get(ctx context.Context, accountID string) (Account, error) {
	acc, err := scanAccount(a.pool.QueryRow(ctx, `SELECT `+accountColumns+` FROM connected_accounts WHERE account_id = $1`, accountID))
	if errors.Is(err, pgx.ErrNoRows) {
		return Account{}, domain.Errorf(ErrAccountNotFound, "no connected account %q", accountID)
	}
	if err != nil {
		return Account{}, fmt.Errorf("get connected account: %w", err)
	}
	return acc, nil
}

// SetStatus activates or deactivates an account.
func (a *Accounts) SetStatus(ctx context.Context, accountID, status string) error {
	if status != AccountActive && status != AccountInactive {
		return domain.Errorf(domain.ErrInvalidField, "status %q is not %s or %s", status, AccountActive, AccountInactive)
	}
	tag, err := a.pool.Exec(ctx, `UPDATE connected_accounts SET status = $2, updated_at = now() WHERE account_id = $1`, accountID, status)
	if err != nil {
		return fmt.Errorf("set connected account status: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return domain.Errorf(ErrAccountNotFound, "no connected account %q", accountID)
	}
	return nil
}

// BotToken decrypts an account's token, whatever its status: the caller
// decides whether an inactive account may be used. The token must not be
// logged nor returned to clients.
func (a *Accounts) BotToken(ctx context.Context, accountID string) (string, error) {
	if a.aead == nil {
		return "", fmt.Errorf("read bot token: %w", a.keyErr)
	}
	var ciphertext, nonce []byte
	err := a.pool.QueryRow(ctx, `SELECT token_ciphertext, token_nonce FROM connected_accounts WHERE account_id = $1`, accountID).Scan(&ciphertext, &nonce)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", domain.Errorf(ErrAccountNotFound, "no connected account %q", accountID)
	}
	if err != nil {
		return "", fmt.Errorf("read bot token: %w", err)
	}
	if len(nonce) != a.aead.NonceSize() {
		return "", fmt.Errorf("read bot token of %s: %w", accountID, ErrWrongEncryptionKey)
	}
	plain, err := a.aead.Open(nil, nonce, ciphertext, []byte(accountID))
	if err != nil {
		return "", fmt.Errorf("read bot token of %s: %w", accountID, ErrWrongEncryptionKey)
	}
	return string(plain), nil
}

// Count is the number of connected accounts (serve refuses to start without
// the encryption key when there are any).
func (a *Accounts) Count(ctx context.Context) (int, error) {
	var n int
	if err := a.pool.QueryRow(ctx, `SELECT count(*) FROM connected_accounts`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count connected accounts: %w", err)
	}
	return n, nil
}

// ListByOwner lists an owner's accounts, oldest first.
func (a *Accounts) ListByOwner(ctx context.Context, ownerID string) ([]Account, error) {
	rows, err := a.pool.Query(ctx, `SELECT `+accountColumns+` FROM connected_accounts WHERE owner_id = $1 ORDER BY created_at, account_id`, ownerID)
	if err != nil {
		return nil, fmt.Errorf("list connected accounts: %w", err)
	}
	accounts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Account, error) { return scanAccount(r) })
	if err != nil {
		return nil, fmt.Errorf("list connected accounts: %w", err)
	}
	return accounts, nil
}

// ConnectedAccount is Get in the shape the delivery process manager reads;
// found is false when there is no such account.
func (a *Accounts) ConnectedAccount(ctx context.Context, accountID string) (domain.ConnectedAccount, bool, error) {
	acct, err := a.Get(ctx, accountID)
	if errors.Is(err, ErrAccountNotFound) {
		return domain.ConnectedAccount{}, false, nil
	}
	if err != nil {
		return domain.ConnectedAccount{}, false, err
	}
	return domain.ConnectedAccount{ID: acct.ID, OwnerID: acct.OwnerID, Provider: acct.Provider, Status: acct.Status}, true, nil
}

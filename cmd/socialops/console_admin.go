package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/socialops/socialops/adapters/console"
	httpapi "github.com/socialops/socialops/adapters/http"
	"github.com/socialops/socialops/adapters/postgres"
)

const (
	defaultTokenTTL = time.Hour
	maxTokenTTL     = 30 * 24 * time.Hour
	// maxTokenFileBytes bounds the bot token file read by account create.
	maxTokenFileBytes = 4 << 10
)

// consoleCmd runs `console link`: it prints a one-time sign-in link to the
// web console (valid 10 minutes) under SOCIALOPS_PUBLIC_URL.
func consoleCmd(cfg Config, args []string, stdout io.Writer) error {
	if len(args) < 2 || args[1] != "link" {
		return &usageError{"console needs the sub-command link"}
	}
	fs := flag.NewFlagSet("console link", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	user := fs.String("user", "", "user (owner) id")
	perms := fs.String("permissions", "", "comma-separated permissions")
	baseURL := fs.String("base-url", cfg.PublicURL, "where browsers reach the server")
	if err := fs.Parse(args[2:]); err != nil {
		return &usageError{fmt.Sprintf("console link: %v", err)}
	}
	if fs.NArg() > 0 {
		return &usageError{fmt.Sprintf("console link: unexpected argument %q", fs.Arg(0))}
	}
	if strings.TrimSpace(*user) == "" || strings.TrimSpace(*perms) == "" {
		return &usageError{"console link needs --user and --permissions"}
	}
	if len(cfg.JWTSecret) == 0 {
		return errors.New("console link needs SOCIALOPS_JWT_SECRET (at least 32 bytes), the secret the server signs console sessions with")
	}
	permissions, err := parsePermissions(*perms)
	if err != nil {
		return err
	}
	link, err := console.MintLink(cfg.JWTSecret, *baseURL, strings.TrimSpace(*user), permissions, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, link)
	return nil
}

// tokenCmd runs `token mint`: it prints only the signed console token.
func tokenCmd(cfg Config, args []string, stdout io.Writer) error {
	if len(args) < 2 || args[1] != "mint" {
		return &usageError{"token needs the sub-command mint"}
	}
	fs := flag.NewFlagSet("token mint", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	user := fs.String("user", "", "user (owner) id")
	perms := fs.String("permissions", "", "comma-separated permissions")
	ttl := fs.Duration("ttl", defaultTokenTTL, "lifetime of the token")
	if err := fs.Parse(args[2:]); err != nil {
		return &usageError{fmt.Sprintf("token mint: %v", err)}
	}
	if fs.NArg() > 0 {
		return &usageError{fmt.Sprintf("token mint: unexpected argument %q", fs.Arg(0))}
	}
	if strings.TrimSpace(*user) == "" || strings.TrimSpace(*perms) == "" {
		return &usageError{"token mint needs --user and --permissions"}
	}
	if len(cfg.JWTSecret) == 0 {
		return errors.New("token mint needs SOCIALOPS_JWT_SECRET (at least 32 bytes), the secret the server verifies console tokens with")
	}
	permissions, err := parsePermissions(*perms)
	if err != nil {
		return err
	}
	if *ttl <= 0 || *ttl > maxTokenTTL {
		return fmt.Errorf("token mint: --ttl must be positive and at most %s (30 days), got %s", maxTokenTTL, *ttl)
	}
	token, err := httpapi.MintToken(cfg.JWTSecret, strings.TrimSpace(*user), permissions, *ttl, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, token)
	return nil
}

func parsePermissions(list string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, p := range strings.Split(list, ",") {
		p = strings.TrimSpace(p)
		if p == "" || seen[p] {
			continue
		}
		known := false
		for _, k := range httpapi.KnownPermissions {
			known = known || k == p
		}
		if !known {
			return nil, fmt.Errorf("token mint: unknown permission %q (known: %s)", p, strings.Join(httpapi.KnownPermissions, ", "))
		}
		seen[p] = true
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, &usageError{"token mint needs at least one permission"}
	}
	return out, nil
}

// accountCmd runs `account create` and `account set-status`. The bot token is
// read from a file (never a flag, which would show in ps and shell history)
// and is never printed nor logged.
func accountCmd(ctx context.Context, cfg Config, logger *slog.Logger, args []string, stdout io.Writer) error {
	if len(args) < 2 {
		return &usageError{"account needs a sub-command: create or set-status"}
	}
	name := args[0] + " " + args[1]
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	owner := fs.String("owner", "", "owner (user) id")
	provider := fs.String("provider", postgres.ProviderTelegramBot, "provider of the account")
	tokenFile := fs.String("token-file", "", "file holding the bot token")
	id := fs.String("id", "", "connected account id")
	status := fs.String("status", "", "active or inactive")
	if err := fs.Parse(args[2:]); err != nil {
		return &usageError{fmt.Sprintf("%s: %v", name, err)}
	}
	if fs.NArg() > 0 {
		return &usageError{fmt.Sprintf("%s: unexpected argument %q", name, fs.Arg(0))}
	}

	switch name {
	case "account create":
		if *owner == "" || *tokenFile == "" {
			return &usageError{"account create needs --owner and --token-file"}
		}
		if cfg.EncryptionKey == nil {
			return fmt.Errorf("account create: %w", postgres.ErrNoEncryptionKey)
		}
		token, err := readSecretFile("--token-file", *tokenFile)
		if err != nil {
			return err
		}
		pool, err := openConfigPool(ctx, cfg, logger)
		if err != nil {
			return err
		}
		defer pool.Close()
		acc, err := postgres.NewAccounts(pool, cfg.EncryptionKey, nil).Create(ctx, *owner, *provider, token)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, acc.ID)
	case "account set-status":
		if *id == "" || *status == "" {
			return &usageError{"account set-status needs --id and --status"}
		}
		pool, err := openConfigPool(ctx, cfg, logger)
		if err != nil {
			return err
		}
		defer pool.Close()
		if err := postgres.NewAccounts(pool, cfg.EncryptionKey, nil).SetStatus(ctx, *id, *status); err != nil {
			return err
		}
	default:
		return &usageError{fmt.Sprintf("unknown command %q", name)}
	}
	return nil
}

// readSecretFile reads a secret (a bot token, a webhook secret) from the file
// given with flag, trimmed; errors name the file, never its content.
func readSecretFile(flag, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", flag, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFileBytes+1))
	if err != nil {
		return "", fmt.Errorf("read %s %s: %w", flag, path, err)
	}
	if len(b) > maxTokenFileBytes {
		return "", fmt.Errorf("%s %s is larger than %d bytes: it should hold only the secret", flag, path, maxTokenFileBytes)
	}
	secret := strings.TrimSpace(string(b))
	if secret == "" {
		return "", fmt.Errorf("%s %s is empty", flag, path)
	}
	return secret, nil
}

// openConfigPool opens and migrates the database for configuration commands
// that need neither the event store nor the command service.
func openConfigPool(ctx context.Context, cfg Config, logger *slog.Logger) (*pgxpool.Pool, error) {
	pool, err := postgres.Connect(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	if err := postgres.Migrate(ctx, pool, logger); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// requireEncryptionKey refuses to serve when connected accounts or encrypted
// webhook secrets exist but SOCIALOPS_ENCRYPTION_KEY is unset: they could not
// be decrypted.
func requireEncryptionKey(ctx context.Context, cfg Config, pool *pgxpool.Pool) error {
	if cfg.EncryptionKey != nil {
		return nil
	}
	n, err := postgres.NewAccounts(pool, nil, nil).Count(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("refusing to start: %d connected account(s) hold encrypted bot tokens but SOCIALOPS_ENCRYPTION_KEY is not set; set it to the key they were stored with", n)
	}
	_, encrypted, err := postgres.NewTenancy(pool, nil).WebhookSecretCounts(ctx)
	if err != nil {
		return err
	}
	if encrypted > 0 {
		return fmt.Errorf("refusing to start: %d webhook secret(s) are stored encrypted but SOCIALOPS_ENCRYPTION_KEY is not set; set it to the key they were stored with", encrypted)
	}
	return nil
}

// encryptPlainWebhookSecrets encrypts, at serve start, the webhook secrets
// stored in plain text before encryption existed; without the key it only
// warns (they keep working).
func encryptPlainWebhookSecrets(ctx context.Context, cfg Config, tenancy *postgres.Tenancy, logger *slog.Logger) error {
	if cfg.EncryptionKey == nil {
		plain, _, err := tenancy.WebhookSecretCounts(ctx)
		if err != nil {
			return err
		}
		if plain > 0 {
			logger.Warn("webhook secrets are stored in plain text; set SOCIALOPS_ENCRYPTION_KEY and restart to encrypt them", "count", plain)
		}
		return nil
	}
	n, err := tenancy.EncryptPlainWebhookSecrets(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		logger.Info("encrypted webhook secrets stored in plain text", "count", n)
	}
	return nil
}

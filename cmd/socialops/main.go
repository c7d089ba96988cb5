// Command socialops is the one SocialOps binary: `serve` runs the service,
// `migrate` applies the migrations, and admin sub-commands manage instances,
// keys, webhook secrets and wallets. Admin sub-commands print only the value
// asked for on stdout; logs go to stderr.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // report time zones resolve on machines without a zoneinfo database
)

const usage = `usage: socialops <command> [flags]

commands:
  serve                                   run the HTTP service (migrates first)
  migrate                                 apply pending database migrations
  healthcheck                             GET /readyz of the local server; exit 0 when ready
  doctor [--max-lag 1m]                   check configuration, database, migrations, event store
                                          and follower lag; print what is wrong and how to fix it
  instance create --owner ID --alias A [--name N]
                                          create an instance; prints its alias
  instance get --alias A                  the instance's settings as JSON (alias, name,
                                          owner_id, organization_id, routing)
  instance set --alias A [--name N] [--routing auto|manual] [--ai-model M] [--ai on|off]
                                          change the display name, routing, or the instance's
                                          AI model and whether it calls a model; prints the JSON
  operator create --alias A --name N [--capacity C]
                                          create an operator (capacity 0: no limit, default 5);
                                          prints its id
  apikey create --owner ID --scopes S [--instance A] [--name N] [--expires 720h]
                [--allow-ip CIDR,...] [--rate R/s] [--operator ID]
                                          create an API key; prints the key once (only a
                                          hash is stored)
  apikey list --owner ID                  the owner's credentials: ids, kinds, scopes, created,
                                          last used, expiry, status (never the keys)
  apikey revoke --id ID                   revoke a credential (any kind); every server refuses
                                          it within a second
  apikey rotate --id ID                   replace an API key by a new one with the same
                                          settings; prints the new key
  oauth-client create --alias A --scopes S [options as apikey create]
                                          an OAuth2 client of the instance; prints the client
                                          id, then the secret
  signing-key create --alias A --scopes S [options as apikey create]
                                          a request-signing key of the instance; prints the
                                          access key, then the secret (stored encrypted with
                                          SOCIALOPS_ENCRYPTION_KEY)
  webhook-secret set --alias A --provider P --secret-file F
                                          set a provider's webhook secret (read from F,
                                          /dev/stdin works), stored encrypted with
                                          SOCIALOPS_ENCRYPTION_KEY; --secret S still works
                                          but warns (it shows in ps and shell history)
  wecom set --alias A --corp-id C --agent-id N --token T --aes-key K [--secret-file F]
                                          set the instance's WeCom settings (from the WeCom
                                          admin console; the app secret, for replies, read
                                          from F), stored encrypted with SOCIALOPS_ENCRYPTION_KEY
  wallet credit --owner ID --micro-usd N  credit a wallet; prints the credit id
  projections status                      each projector's checkpoint, the log head, the lag,
                                          its parked events (listed below the table)
  projections rebuild NAME                replay a projector from 0 and swap its tables in
  projections verify [NAME]               rebuild into shadow tables and diff with the live
                                          ones; exits non-zero on any difference
  projections parked [NAME] [--all]       events a projector parked (could not apply because
                                          of their data); --all adds resolved and skipped ones
  projections retry NAME POSITION         apply a parked event again; marks it resolved
  projections skip NAME POSITION --reason R
                                          leave a parked event unapplied, with a reason
  projections rebind                      bind the read side to the configured event store:
                                          clear snapshots, checkpoints and parked events and
                                          rebuild every projection (stop every serve first)
  token mint --user ID --permissions P [--ttl D]
                                          mint a console JWT (service:read, service:manage;
                                          ttl default 1h, at most 720h); prints it; needs
                                          SOCIALOPS_JWT_SECRET, no database
  console link --user ID --permissions P [--base-url URL]
                                          print a one-time sign-in link to the web console
                                          (valid 10 min; base default SOCIALOPS_PUBLIC_URL,
                                          else http://SOCIALOPS_HTTP_ADDR); no database
  account create --owner ID --provider telegram-bot --token-file F
                                          store a bot token (read from F) encrypted with
                                          SOCIALOPS_ENCRYPTION_KEY; prints the account id
  account set-status --id conn_... --status active|inactive
                                          activate or deactivate a connected account
  bot create --alias A --name N --webhook-url U [--events message,dialog_open,member_join,member_leave]
             [--mode first|observer]
                                          an instance's bot (seed 001); prints its id, its token
                                          and its push signing secret (whsec_), one per line
  bot list|rotate-token|delete --alias A [--id sobot_...]
                                          list (no tokens), a new token, or retire a bot
  webhook create --alias A --url U [--events e1,e2] [--description D]
                                          subscribe an endpoint to public events; prints the
                                          id, then the signing secret (shown once)
  webhook list|rotate|enable|disable|delete --alias A [--id whsub_...]
                                          list (no secrets), rotate (prints the new secret), ...
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	code := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	os.Exit(code)
}

// run dispatches a sub-command and returns the exit code.
func run(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] == "healthcheck" {
		// No configuration beyond the address: it runs inside the container's health check.
		if err := healthcheck(ctx, lookupEnv, stdout); err != nil {
			fmt.Fprintf(stderr, "socialops: %v\n", err)
			return 1
		}
		return 0
	}
	if args[0] == "doctor" {
		// doctor reports a configuration error as one of its findings.
		return doctor(ctx, args[1:], lookupEnv, stdout, stderr)
	}
	load := loadConfig
	if args[0] == "token" || args[0] == "console" {
		load = loadTokenConfig // token mint needs no database
	}
	cfg, err := load(lookupEnv)
	if err != nil {
		fmt.Fprintf(stderr, "socialops: %v\n", err)
		return 2
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	slog.SetDefault(logger)

	var cmdErr error
	switch args[0] {
	case "serve":
		cmdErr = serve(ctx, cfg, logger)
	case "migrate":
		cmdErr = migrate(ctx, cfg, logger)
	case "projections":
		cmdErr = projectionsCmd(ctx, cfg, logger, args, stdout, stderr)
	case "instance", "webhook-secret", "wallet", "operator", "wecom":
		cmdErr = admin(ctx, cfg, logger, args, stdout)
	case "bot":
		cmdErr = botCmd(ctx, cfg, logger, args, stdout)
	case "apikey", "oauth-client", "signing-key":
		cmdErr = credentialCmd(ctx, cfg, logger, args, stdout)
	case "token":
		cmdErr = tokenCmd(cfg, args, stdout)
	case "console":
		cmdErr = consoleCmd(cfg, args, stdout)
	case "account":
		cmdErr = accountCmd(ctx, cfg, logger, args, stdout)
	case "webhook":
		cmdErr = webhookCmd(ctx, cfg, logger, args, stdout)
	default:
		fmt.Fprintf(stderr, "socialops: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	var usageErr *usageError
	switch {
	case cmdErr == nil:
		return 0
	case errors.As(cmdErr, &usageErr):
		fmt.Fprintf(stderr, "socialops: %v\n\n%s", cmdErr, usage)
		return 2
	default:
		fmt.Fprintf(stderr, "socialops: %v\n", cmdErr)
		return 1
	}
}

type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

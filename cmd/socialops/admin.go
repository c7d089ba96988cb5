package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/socialops/socialops/adapters/channelcallback"
	"github.com/socialops/socialops/adapters/postgres"
	"github.com/socialops/socialops/commands"
	"github.com/socialops/socialops/domain"
)

// admin runs the operator sub-commands: each prints only the requested value.
func admin(ctx context.Context, cfg Config, logger *slog.Logger, args []string, stdout io.Writer) error {
	if len(args) < 2 {
		return &usageError{fmt.Sprintf("%s needs a sub-command", args[0])}
	}
	name := args[0] + " " + args[1]
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	owner := fs.String("owner", "", "owner (user) id")
	alias := fs.String("alias", "", "instance alias")
	provider := fs.String("provider", "", "provider")
	secret := fs.String("secret", "", "webhook secret (shows in ps and shell history: prefer --secret-file)")
	secretFile := fs.String("secret-file", "", "file holding the webhook secret")
	micro := fs.Int64("micro-usd", 0, "amount in micro-USD")
	note := fs.String("note", "", "note recorded with a credit")
	displayName := fs.String("name", "", "display name (instance, operator)")
	routingMode := fs.String("routing", "", "instance routing: auto or manual")
	aiModel := fs.String("ai-model", "", "instance: the model to use instead of SOCIALOPS_AI_MODEL (\"\": that one)")
	aiMode := fs.String("ai", "", "instance: on (model calls allowed) or off (extractive summaries, no model calls)")
	corpID := fs.String("corp-id", "", "WeCom corp id")
	agentID := fs.Int64("agent-id", 0, "WeCom agent (application) id")
	wecomToken := fs.String("token", "", "WeCom callback token")
	aesKey := fs.String("aes-key", "", "WeCom EncodingAESKey (43 characters)")
	capacity := fs.Int("capacity", domain.DefaultOperatorCapacity, "operator capacity (0: no limit)")
	if err := fs.Parse(args[2:]); err != nil {
		return &usageError{fmt.Sprintf("%s: %v", name, err)}
	}
	if fs.NArg() > 0 {
		return &usageError{fmt.Sprintf("%s: unexpected argument %q", name, fs.Arg(0))}
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if name == "instance set" && given["routing"] && *routingMode != domain.RoutingAuto && *routingMode != domain.RoutingManual {
		return &usageError{"instance set: --routing is auto or manual"}
	}
	if name == "instance set" && given["ai"] && *aiMode != "on" && *aiMode != "off" {
		return &usageError{"instance set: --ai is on or off"}
	}
	if name == "webhook-secret set" {
		// Checked before opening the database: the secret is read once, here.
		if *alias == "" || *provider == "" || (*secret == "") == (*secretFile == "") {
			return &usageError{"webhook-secret set needs --alias, --provider and one of --secret-file or --secret"}
		}
		if !webhookProvider(*provider) {
			return fmt.Errorf("unknown provider %q: use generic-webhook, telegram, github, wechat, douyin or jd", *provider)
		}
		if cfg.EncryptionKey == nil {
			return errors.New("webhook-secret set: SOCIALOPS_ENCRYPTION_KEY is not set: webhook secrets are stored encrypted with it")
		}
		if *secretFile != "" {
			s, err := readSecretFile("--secret-file", *secretFile)
			if err != nil {
				return err
			}
			*secret = s
		} else {
			logger.Warn("--secret shows the secret in the process list and shell history; use --secret-file (a file, or /dev/stdin)")
		}
	}
	if name == "wecom set" {
		if *alias == "" || *corpID == "" || *agentID <= 0 || *wecomToken == "" || *aesKey == "" {
			return &usageError{"wecom set needs --alias, --corp-id, --agent-id, --token and --aes-key"}
		}
		if cfg.EncryptionKey == nil {
			return errors.New("wecom set: SOCIALOPS_ENCRYPTION_KEY is not set: WeCom settings are stored encrypted with it")
		}
		if *secretFile != "" {
			s, err := readSecretFile("--secret-file", *secretFile)
			if err != nil {
				return err
			}
			*secret = s
		}
	}
	a, err := openApp(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer a.Close()
	actor := commands.Context{Actor: domain.Actor{Kind: domain.ActorSystem, ID: "cli"}}

	switch name {
	case "instance create":
		if *owner == "" || *alias == "" {
			return &usageError{"instance create needs --owner and --alias"}
		}
		inst, err := a.tenancy.CreateInstance(ctx, *owner, *alias)
		if err != nil {
			return err
		}
		if given["name"] {
			if _, err := a.tenancy.SetSettings(ctx, inst.Alias, displayName, nil); err != nil {
				return err
			}
		}
		fmt.Fprintln(stdout, inst.Alias)
	case "instance get", "instance set":
		if *alias == "" {
			return &usageError{name + " needs --alias"}
		}
		var set *postgres.InstanceSettings
		if name == "instance set" {
			var n, r *string
			if given["name"] {
				n = displayName
			}
			if given["routing"] {
				r = routingMode
			}
			st, err := a.tenancy.SetSettings(ctx, *alias, n, r)
			if err != nil {
				return err
			}
			if given["ai-model"] || given["ai"] {
				var m *string
				var off *bool
				if given["ai-model"] {
					m = aiModel
				}
				if given["ai"] {
					o := *aiMode == "off"
					off = &o
				}
				if st, err = a.tenancy.SetAISettings(ctx, *alias, m, off); err != nil {
					return err
				}
			}
			set = &st
		}
		if set == nil {
			st, err := a.tenancy.SettingsByAlias(ctx, *alias)
			if err != nil {
				return err
			}
			set = &st
		}
		return json.NewEncoder(stdout).Encode(set)
	case "operator create":
		if *alias == "" || !given["name"] {
			return &usageError{"operator create needs --alias and --name"}
		}
		inst, err := a.tenancy.InstanceByAlias(ctx, *alias)
		if err != nil {
			return err
		}
		res, err := a.commands.CreateOperators(ctx, commands.CreateOperators{Instance: inst,
			Items: []domain.NewOperator{{Name: *displayName, Capacity: capacity}}, Context: actor})
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, res.Operators[0].ID)
	case "webhook-secret set":
		if err := a.tenancy.SetWebhookSecret(ctx, *alias, *provider, *secret); err != nil {
			return err
		}
	case "wecom set":
		if err := a.tenancy.SetWeComSettings(ctx, *alias, postgres.WeComSettings{CorpID: *corpID, AgentID: *agentID,
			Token: *wecomToken, AESKey: *aesKey, Secret: *secret}); err != nil {
			return err
		}
	case "wallet credit":
		if *owner == "" || *micro <= 0 {
			return &usageError{"wallet credit needs --owner and a positive --micro-usd"}
		}
		actor.OwnerID = *owner
		res, err := a.commands.CreditWallet(ctx, commands.CreditWallet{OwnerID: *owner, AmountMicroUSD: *micro, Note: *note, Context: actor})
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, res.CreditID)
	default:
		return &usageError{fmt.Sprintf("unknown command %q", name)}
	}
	return nil
}

func webhookProvider(p string) bool {
	return p == domain.ProviderGenericWebhook || p == domain.ProviderTelegram || p == domain.ProviderGitHub ||
		channelcallback.Known(p)
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/socialops/socialops/adapters/bots"
	"github.com/socialops/socialops/adapters/webhooks"
)

func botStore(a *app, cfg Config, hooks *webhooks.Store) *bots.Store {
	return bots.NewStore(a.pool, hooks, cfg.Webhooks.AllowPrivate)
}

// botCmd manages an instance's bots (issue 13):
//
//	socialops bot create --alias A --name N --webhook-url U [--events message,dialog_open,member_join,member_leave]
//	                     [--mode first|observer]    (the bot id, the bot token, the signing secret, one per line)
//	socialops bot list --alias A                    (id, mode, name, webhook URL; never tokens)
//	socialops bot rotate-token --alias A --id ID    (the new token)
//	socialops bot delete --alias A --id ID
func botCmd(ctx context.Context, cfg Config, logger *slog.Logger, args []string, stdout io.Writer) error {
	if len(args) < 2 {
		return &usageError{"bot needs a sub-command: create, list, rotate-token, delete"}
	}
	name := "bot " + args[1]
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	alias := fs.String("alias", "", "instance alias")
	botName := fs.String("name", "", "the bot's name")
	url := fs.String("webhook-url", "", "where the bot's events are pushed")
	events := fs.String("events", "", "comma-separated events (default message,dialog_open)")
	mode := fs.String("mode", bots.ModeFirst, "first (answers new sessions before people) or observer")
	id := fs.String("id", "", "bot id (sobot_…)")
	kind := fs.String("kind", bots.KindWebhook, "webhook (a bot behind --webhook-url) or model (the built-in bot)")
	model := fs.String("model", "", "model bot: the model (default SOCIALOPS_AI_MODEL)")
	maxTurns := fs.Int("max-turns", 5, "model bot: answers before it hands off")
	promptFile := fs.String("prompt-file", "", "model bot: a file holding its system prompt")
	faqFile := fs.String("faq-file", "", "model bot: a file holding its FAQ")
	if err := fs.Parse(args[2:]); err != nil {
		return &usageError{fmt.Sprintf("%s: %v", name, err)}
	}
	if fs.NArg() > 0 {
		return &usageError{fmt.Sprintf("%s: unexpected argument %q", name, fs.Arg(0))}
	}
	if *alias == "" {
		return &usageError{name + " needs --alias"}
	}
	switch args[1] {
	case "create":
		if *botName == "" || (*url == "" && *kind != bots.KindModel) {
			return &usageError{"bot create needs --name and --webhook-url (or --kind model)"}
		}
		if cfg.EncryptionKey == nil {
			return errors.New("bot create: SOCIALOPS_ENCRYPTION_KEY is not set: bot push secrets are stored encrypted with it")
		}
	case "rotate-token", "delete":
		if *id == "" {
			return &usageError{name + " needs --id"}
		}
	case "list":
	default:
		return &usageError{fmt.Sprintf("unknown bot sub-command %q", args[1])}
	}
	a, err := openApp(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer a.Close()
	inst, err := a.tenancy.InstanceByAlias(ctx, *alias)
	if err != nil {
		return err
	}
	store := botStore(a, cfg, webhookStore(a, cfg))
	switch args[1] {
	case "create":
		st := bots.Settings{Name: botName, WebhookURL: url, Events: splitList(*events), Mode: mode, Kind: kind, Model: model, MaxTurns: maxTurns}
		for _, f := range []struct {
			path string
			to   **string
		}{{*promptFile, &st.SystemPrompt}, {*faqFile, &st.FAQ}} {
			if f.path != "" {
				b, err := os.ReadFile(f.path)
				if err != nil {
					return fmt.Errorf("bot create: %w", err)
				}
				text := string(b)
				*f.to = &text
			}
		}
		b, token, secret, err := store.Create(ctx, inst.ID, st)
		if err != nil {
			return err
		}
		logger.Info("bot created", "bot_id", b.ID, "instance", inst.Alias, "kind", b.Kind)
		fmt.Fprintln(stdout, b.ID)
		fmt.Fprintln(stdout, token)
		if secret != "" { // a model bot gets no pushes, so no secret
			fmt.Fprintln(stdout, secret)
		}
	case "list":
		list, err := store.List(ctx, inst.ID)
		if err != nil {
			return err
		}
		for _, b := range list {
			fmt.Fprintf(stdout, "%s\t%s\t%s\t%s\n", b.ID, b.Mode, b.Name, b.WebhookURL)
		}
	case "rotate-token":
		_, token, err := store.RotateToken(ctx, inst.ID, *id)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, token)
	case "delete":
		return store.Delete(ctx, inst.ID, *id)
	}
	return nil
}

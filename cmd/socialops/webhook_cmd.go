package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/socialops/socialops/adapters/webhooks"
)

// webhookCmd manages outbound webhook subscriptions:
//
//	socialops webhook create --alias A --url U [--events e1,e2] [--description D]   (id, then the secret)
//	socialops webhook list --alias A                                              (id, enabled, url, events; no secrets)
//	socialops webhook rotate --alias A --id ID                                    (the new secret)
//	socialops webhook enable|disable --alias A --id ID
//	socialops webhook delete --alias A --id ID
func webhookCmd(ctx context.Context, cfg Config, logger *slog.Logger, args []string, stdout io.Writer) error {
	if len(args) < 2 {
		return &usageError{"webhook needs a sub-command: create, list, rotate, enable, disable, delete"}
	}
	name := "webhook " + args[1]
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	alias := fs.String("alias", "", "instance alias")
	url := fs.String("url", "", "endpoint URL")
	events := fs.String("events", "", "comma-separated event types (default: all)")
	description := fs.String("description", "", "description")
	id := fs.String("id", "", "subscription id")
	if err := fs.Parse(args[2:]); err != nil {
		return &usageError{fmt.Sprintf("%s: %v", name, err)}
	}
	if fs.NArg() > 0 {
		return &usageError{fmt.Sprintf("%s: unexpected argument %q", name, fs.Arg(0))}
	}
	if *alias == "" {
		return &usageError{name + " needs --alias"}
	}
	needID := args[1] != "create" && args[1] != "list"
	if needID && *id == "" {
		return &usageError{name + " needs --id"}
	}
	switch args[1] {
	case "create", "list", "rotate", "enable", "disable", "delete":
	default:
		return &usageError{fmt.Sprintf("unknown webhook sub-command %q", args[1])}
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
	store := webhookStore(a, cfg)
	switch args[1] {
	case "create":
		in := webhooks.Input{URL: url, Description: description}
		if *events != "" {
			list := strings.Split(*events, ",")
			for i := range list {
				list[i] = strings.TrimSpace(list[i])
			}
			in.Events = &list
		}
		sub, secret, err := store.Create(ctx, inst.ID, in)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, sub.ID)
		fmt.Fprintln(stdout, secret)
	case "list":
		subs, err := store.List(ctx, inst.ID)
		if err != nil {
			return err
		}
		for _, s := range subs {
			ev := "*"
			if len(s.Events) > 0 {
				ev = strings.Join(s.Events, ",")
			}
			state := "enabled"
			if !s.Enabled {
				state = "disabled:" + s.DisabledReason
			}
			fmt.Fprintf(stdout, "%s\t%s\t%s\t%s\n", s.ID, state, s.URL, ev)
		}
	case "rotate":
		_, secret, err := store.Rotate(ctx, inst.ID, *id)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, secret)
	case "enable", "disable":
		on := args[1] == "enable"
		if _, err := store.Update(ctx, inst.ID, *id, webhooks.Input{Enabled: &on}); err != nil {
			return err
		}
	case "delete":
		if err := store.Delete(ctx, inst.ID, *id); err != nil {
			return err
		}
	}
	return nil
}

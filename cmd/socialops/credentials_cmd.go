package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/socialops/socialops/adapters/postgres"
)

// credentialCmd manages the integration credentials (issue 15):
//
//	socialops apikey create --owner ID --scopes S [--instance A] [--name N] [--expires 720h]
//	                        [--allow-ip CIDR,…] [--rate R/s] [--operator ID]   (the key, once)
//	socialops apikey list --owner ID                                        (ids and settings, never keys)
//	socialops apikey revoke --id ID
//	socialops apikey rotate --id ID                                          (the new key, once)
//	socialops oauth-client create --alias A --scopes S [same options]        (client id, then secret)
//	socialops signing-key create --alias A --scopes S [same options]         (access key, then secret)
func credentialCmd(ctx context.Context, cfg Config, logger *slog.Logger, args []string, stdout io.Writer) error {
	if len(args) < 2 {
		return &usageError{args[0] + " needs a sub-command"}
	}
	name := args[0] + " " + args[1]
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	owner := fs.String("owner", "", "owner (user) id")
	alias := fs.String("alias", "", "instance alias")
	instance := fs.String("instance", "", "limit the key to this instance (alias)")
	scopes := fs.String("scopes", "", "comma-separated scopes")
	keyName := fs.String("name", "", "a name to recognise the credential by")
	expires := fs.Duration("expires", 0, "lifetime, e.g. 720h (default: never expires)")
	allowIP := fs.String("allow-ip", "", "comma-separated addresses or CIDRs the credential may be used from")
	ratePer := fs.String("rate", "", "requests per second, e.g. 10/s, 600/m or 5")
	operator := fs.Int64("operator", 0, "bind the credential to this operator (needs an instance)")
	id := fs.String("id", "", "credential id (sokey_…)")
	if err := fs.Parse(args[2:]); err != nil {
		return &usageError{fmt.Sprintf("%s: %v", name, err)}
	}
	if fs.NArg() > 0 {
		return &usageError{fmt.Sprintf("%s: unexpected argument %q", name, fs.Arg(0))}
	}
	rps, err := parseRate(*ratePer)
	if err != nil {
		return &usageError{fmt.Sprintf("%s: %v", name, err)}
	}
	spec := postgres.CredentialSpec{OwnerID: *owner, Scopes: splitList(*scopes), Name: *keyName, InstanceAlias: *instance,
		ExpiresIn: *expires, AllowedCIDRs: splitList(*allowIP), RatePerSecond: rps, OperatorID: *operator}
	switch name {
	case "apikey create":
		if *owner == "" || *scopes == "" {
			return &usageError{"apikey create needs --owner and --scopes"}
		}
	case "apikey list":
		if *owner == "" {
			return &usageError{"apikey list needs --owner"}
		}
	case "apikey revoke", "apikey rotate":
		if *id == "" {
			return &usageError{name + " needs --id"}
		}
	case "oauth-client create", "signing-key create":
		if *alias == "" || *scopes == "" {
			return &usageError{name + " needs --alias and --scopes"}
		}
		if *instance != "" && *instance != *alias {
			return &usageError{name + ": the credential belongs to --alias; leave --instance out"}
		}
		spec.InstanceAlias = *alias
	default:
		return &usageError{fmt.Sprintf("unknown command %q", name)}
	}
	if name == "signing-key create" && cfg.EncryptionKey == nil {
		return errors.New("signing-key create: SOCIALOPS_ENCRYPTION_KEY is not set: signing secrets are stored encrypted with it")
	}
	a, err := openApp(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer a.Close()
	t := a.tenancy
	switch name {
	case "apikey create":
		key, k, err := t.CreateCredentialAPIKey(ctx, spec)
		if err != nil {
			return err
		}
		logger.Info("api key created", "key_id", k.ID)
		fmt.Fprintln(stdout, key)
	case "apikey list":
		keys, err := t.ListCredentials(ctx, *owner, "")
		if err != nil {
			return err
		}
		printCredentials(stdout, keys)
	case "apikey revoke":
		k, err := t.RevokeCredential(ctx, *id)
		if err != nil {
			return err
		}
		logger.Info("credential revoked", "key_id", k.ID)
	case "apikey rotate":
		key, k, err := t.RotateAPIKey(ctx, *id)
		if err != nil {
			return err
		}
		logger.Info("api key rotated", "old_key_id", *id, "key_id", k.ID)
		fmt.Fprintln(stdout, key)
	case "oauth-client create":
		clientID, secret, _, err := t.CreateOAuthClient(ctx, spec)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, clientID)
		fmt.Fprintln(stdout, secret)
	case "signing-key create":
		accessKey, secret, _, err := t.CreateSigningKey(ctx, spec)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, accessKey)
		fmt.Fprintln(stdout, secret)
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// parseRate reads --rate: N, N/s, N/m or N/h, as requests per second.
func parseRate(s string) (float64, error) {
	if s == "" {
		return 0, nil
	}
	num, unit, _ := strings.Cut(s, "/")
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || !(n > 0) || math.IsInf(n, 0) {
		return 0, fmt.Errorf("--rate %q: a positive number, then /s, /m or /h", s)
	}
	switch unit {
	case "", "s":
		return n, nil
	case "m":
		return n / 60, nil
	case "h":
		return n / 3600, nil
	}
	return 0, fmt.Errorf("--rate %q: the unit is /s, /m or /h", s)
}

// printCredentials writes one line per credential: never a secret.
func printCredentials(w io.Writer, keys []postgres.APIKey) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tNAME\tINSTANCE\tSCOPES\tCREATED\tLAST USED\tEXPIRES\tSTATUS")
	when := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.UTC().Format(time.RFC3339)
	}
	for _, k := range keys {
		status := "active"
		switch {
		case k.RevokedAt != nil:
			status = "revoked"
		case k.ExpiresAt != nil && !time.Now().Before(*k.ExpiresAt):
			status = "expired"
		}
		inst, nm := k.InstanceAlias, k.Name
		if inst == "" {
			inst = "*"
		}
		if nm == "" {
			nm = "-"
		}
		created := k.CreatedAt
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Kind, nm, inst, strings.Join(k.Scopes, ","),
			when(&created), when(k.LastUsedAt), when(k.ExpiresAt), status)
	}
	tw.Flush()
}

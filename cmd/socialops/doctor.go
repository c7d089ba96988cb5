package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/socialops/socialops/adapters/election"
	"github.com/socialops/socialops/adapters/eventstore"
	"github.com/socialops/socialops/adapters/eventstore/kurrentdb"
	pgstore "github.com/socialops/socialops/adapters/eventstore/postgres"
	"github.com/socialops/socialops/adapters/postgres"
	"github.com/socialops/socialops/projections"
)

// doctorMaxLag is how far behind the log a follower may be before doctor
// calls it a problem, by the age of the oldest event it has not applied
// (`--max-lag` changes it).
const doctorMaxLag = time.Minute

// checkState is a doctor verdict: ok, warn (worth knowing, not wrong) or fail.
type checkState string

const (
	checkOK   checkState = "ok"
	checkWarn checkState = "warn"
	checkFail checkState = "FAIL"
)

// doctorReport collects the checks in the order they ran.
type doctorReport struct {
	w      io.Writer
	failed int
}

func (r *doctorReport) add(state checkState, what, detail, fix string) {
	line := fmt.Sprintf("%-4s %-28s %s", state, what, detail)
	if fix != "" {
		line += "\n     " + strings.Repeat(" ", 28) + " fix: " + fix
	}
	fmt.Fprintln(r.w, line)
	if state == checkFail {
		r.failed++
	}
}

// doctor checks the configuration, the database, the migrations, the event
// store and how far every follower is behind, and prints what is wrong and
// how to fix it. It changes nothing. It returns the exit code: 1 on any
// failed check.
func doctor(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	maxLag := fs.Duration("max-lag", doctorMaxLag, "a follower further behind than this (by the age of its oldest unapplied event) is a problem")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	r := &doctorReport{w: stdout}
	cfg, err := loadConfig(lookupEnv)
	if err != nil {
		r.add(checkFail, "configuration", err.Error(), "correct that variable (README, Configuration)")
		return r.exit()
	}
	r.add(checkOK, "configuration", "every SOCIALOPS_* setting is valid", "")
	if cfg.JWTSecret == nil {
		r.add(checkWarn, "console", "SOCIALOPS_JWT_SECRET is unset: the console API answers 401 to everyone", "set it (32 bytes or more) to use the console")
	}

	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	pool, err := postgres.Connect(ctx, cfg.DatabaseURL)
	if err != nil {
		r.add(checkFail, "database", "unreachable: "+err.Error(), "check SOCIALOPS_DATABASE_URL and that Postgres runs (make run starts a local one)")
		return r.exit()
	}
	defer pool.Close()
	var version string
	if err := pool.QueryRow(ctx, "SHOW server_version").Scan(&version); err == nil {
		r.add(checkOK, "database", "reachable (PostgreSQL "+version+")", "")
	}

	pending, err := postgres.PendingMigrations(ctx, pool)
	switch {
	case err != nil:
		r.add(checkFail, "migrations", err.Error(), "run `socialops migrate`")
	case len(pending) > 0:
		r.add(checkFail, "migrations", fmt.Sprintf("%d pending: %s", len(pending), strings.Join(pending, ", ")),
			"run `socialops migrate` (serve also migrates on start)")
		return r.exit() // the checks below read tables that may not exist yet
	default:
		r.add(checkOK, "migrations", "all applied", "")
	}
	if err := requireEncryptionKey(ctx, cfg, pool); err != nil {
		r.add(checkFail, "encryption key", err.Error(), "set SOCIALOPS_ENCRYPTION_KEY to the key the tokens were stored with")
	}

	store, err := doctorStore(ctx, cfg, pool)
	if err != nil {
		r.add(checkFail, "event store", err.Error(), "check SOCIALOPS_EVENTSTORE_URL and that the server runs")
		return r.exit()
	}
	defer store.Close()
	head, err := store.HeadPosition(ctx)
	if err != nil {
		r.add(checkFail, "event store", "unreadable: "+err.Error(), "check the event store's health")
		return r.exit()
	}
	kind := "postgres"
	if cfg.EventStoreURL != "" {
		kind = "kurrentdb"
	}
	r.add(checkOK, "event store", fmt.Sprintf("%s, log head at position %d", kind, head), "")
	doctorBinding(ctx, r, pool, store)

	doctorFollowers(ctx, r, pool, store, head, *maxLag)
	doctorRoles(ctx, r, pool)
	doctorParked(ctx, r, pool)
	return r.exit()
}

func (r *doctorReport) exit() int {
	if r.failed > 0 {
		fmt.Fprintf(r.w, "%d problem(s) found\n", r.failed)
		return 1
	}
	fmt.Fprintln(r.w, "no problems found")
	return 0
}

func doctorStore(ctx context.Context, cfg Config, pool *pgxpool.Pool) (eventstore.Store, error) {
	if cfg.EventStoreURL == "" {
		s := pgstore.New(pool, nil)
		if err := s.Ping(ctx); err != nil {
			_ = s.Close()
			return nil, err
		}
		return s, nil
	}
	s, err := kurrentdb.Open(ctx, cfg.EventStoreURL, nil)
	if err != nil {
		return nil, err
	}
	if err := s.Ping(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// doctorFollowers checks every projector and process manager with a
// checkpoint: behind the head by more than maxLag is a problem.
func doctorFollowers(ctx context.Context, r *doctorReport, pool *pgxpool.Pool, store eventstore.Store, head uint64, maxLag time.Duration) {
	rows, err := pool.Query(ctx, `SELECT projector, position FROM projection_checkpoints ORDER BY projector`)
	if err != nil {
		r.add(checkFail, "followers", err.Error(), "")
		return
	}
	positions := map[string]uint64{}
	var names []string
	for rows.Next() {
		var name string
		var pos int64
		if err := rows.Scan(&name, &pos); err != nil {
			rows.Close()
			r.add(checkFail, "followers", err.Error(), "")
			return
		}
		positions[name] = uint64(pos)
		names = append(names, name)
	}
	rows.Close()
	for _, p := range projections.All() {
		if _, ok := positions[p.Name()]; !ok {
			names = append(names, p.Name())
		}
	}
	for _, name := range names {
		cp := positions[name]
		if cp >= head {
			r.add(checkOK, "follower "+name, fmt.Sprintf("at the head (position %d)", cp), "")
			continue
		}
		next, err := store.ReadAll(ctx, cp, 1)
		if err != nil || len(next) == 0 {
			r.add(checkWarn, "follower "+name, fmt.Sprintf("%d events behind", head-cp), "")
			continue
		}
		age := time.Since(next[0].Created)
		detail := fmt.Sprintf("%d events behind; the oldest it has not applied is %s old", head-cp, age.Round(time.Millisecond))
		if age > maxLag {
			r.add(checkFail, "follower "+name, detail,
				"is `socialops serve` running? see `socialops projections status` and the server's error logs")
			continue
		}
		r.add(checkWarn, "follower "+name, detail+" (catching up)", "")
	}
}

// doctorBinding checks that the read side was built from this event store.
func doctorBinding(ctx context.Context, r *doctorReport, pool *pgxpool.Pool, store eventstore.Store) {
	id, err := store.Identity(ctx)
	if err != nil {
		r.add(checkFail, "read side binding", "the event store's identity is unreadable: "+err.Error(), "")
		return
	}
	bound, err := projections.BoundStore(ctx, pool)
	switch {
	case err != nil:
		r.add(checkFail, "read side binding", err.Error(), "")
	case bound == "":
		r.add(checkOK, "read side binding", "not bound yet (the first serve binds it to store "+id+")", "")
	case bound != id:
		r.add(checkFail, "read side binding", fmt.Sprintf("built from event store %s, but the configured one is %s", bound, id),
			"point SOCIALOPS_EVENTSTORE_URL back at "+bound+", or stop every serve and run `socialops projections rebind`")
	default:
		r.add(checkOK, "read side binding", "built from this event store ("+id+")", "")
	}
}

// doctorParked reports events a projector set aside because they fail on their own data.
func doctorParked(ctx context.Context, r *doctorReport, pool *pgxpool.Pool) {
	counts, err := projections.ParkedCounts(ctx, pool)
	if err != nil {
		r.add(checkFail, "parked events", err.Error(), "")
		return
	}
	if len(counts) == 0 {
		r.add(checkOK, "parked events", "none", "")
		return
	}
	names := make([]string, 0, len(counts))
	for n := range counts {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		r.add(checkFail, "parked events", fmt.Sprintf("%s has %d event(s) it could not apply", n, counts[n]),
			"see `socialops projections parked "+n+"`; fix the cause, then `projections retry "+n+" POS` or `projections skip "+n+" POS --reason R`")
	}
}

// doctorRoles reports which process holds each follower role. A role nobody
// holds is worth knowing (nothing advances it) but is only a problem once its
// follower falls behind, which doctorFollowers reports.
func doctorRoles(ctx context.Context, r *doctorReport, pool *pgxpool.Pool) {
	leases, err := election.Leases(ctx, pool, followerRoles())
	if err != nil {
		r.add(checkFail, "follower roles", err.Error(), "")
		return
	}
	for _, l := range leases {
		switch l.State() {
		case "held":
			r.add(checkOK, "role "+l.Role, "held by "+l.Holder, "")
		case "stale":
			r.add(checkWarn, "role "+l.Role, "its last holder "+l.Holder+" stopped renewing it; another process should take it over within seconds", "")
		default:
			r.add(checkWarn, "role "+l.Role, "no process holds it", "start `socialops serve` (any process takes the free roles)")
		}
	}
}

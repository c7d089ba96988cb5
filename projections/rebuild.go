package projections

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/socialops/socialops/domain"
)

// EventSource is the part of the event log a replay reads.
type EventSource interface {
	ReadAll(ctx context.Context, after uint64, count uint64) ([]domain.RecordedEvent, error)
	HeadPosition(ctx context.Context) (uint64, error)
}

// ReplayPage is how many events one replay transaction applies.
const ReplayPage = 2000

// Shadow is a projector's tables rebuilt from position 0 in a schema of their own.
type Shadow struct {
	Schema   string
	Position uint64
	Events   int
	Elapsed  time.Duration
	p        Projector
}

// BuildShadow creates a schema with empty copies of the projector's tables
// and replays the whole log into it, up to the head at the time of the call.
func BuildShadow(ctx context.Context, pool *pgxpool.Pool, src EventSource, registry *domain.Registry, p Projector) (*Shadow, error) {
	var b [4]byte
	_, _ = rand.Read(b[:])
	sh := &Shadow{Schema: "shadow_" + p.Name() + "_" + hex.EncodeToString(b[:]), p: p}
	start := time.Now()
	if err := sh.createTables(ctx, pool); err != nil {
		_ = sh.Drop(context.Background(), pool)
		return nil, fmt.Errorf("create shadow tables: %w", err)
	}
	head, err := src.HeadPosition(ctx)
	if err != nil {
		_ = sh.Drop(context.Background(), pool)
		return nil, err
	}
	if err := sh.catchUp(ctx, pool, src, registry, head); err != nil {
		_ = sh.Drop(context.Background(), pool)
		return nil, err
	}
	sh.Elapsed = time.Since(start)
	return sh, nil
}

// createTables copies the projector's tables (and a checkpoint table) into
// the shadow schema with their constraints (primary keys and unique keys,
// which upserts need) under the same names, but without the other indexes:
// maintaining those row by row is most of a replay's cost, so BuildIndexes
// adds them once at the end.
func (sh *Shadow) createTables(ctx context.Context, pool *pgxpool.Pool) error {
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{sh.Schema}.Sanitize()); err != nil {
		return err
	}
	// The shadow has its own checkpoint and parked-event tables, so a replay
	// parks what it cannot apply there; Rebuild merges them into the live one.
	for _, t := range append([]string{"projection_checkpoints", "projection_parked"}, sh.p.Tables()...) {
		shadow := pgx.Identifier{sh.Schema, t}.Sanitize()
		if _, err := pool.Exec(ctx, fmt.Sprintf("CREATE TABLE %s (LIKE public.%s INCLUDING ALL EXCLUDING INDEXES)", shadow, pgx.Identifier{t}.Sanitize())); err != nil {
			return err
		}
		rows, err := pool.Query(ctx, `SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
			WHERE conrelid = ('public.' || quote_ident($1))::regclass AND contype IN ('p', 'u') ORDER BY conname`, t)
		if err != nil {
			return err
		}
		defs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct{ Name, Def string }])
		if err != nil {
			return err
		}
		for _, c := range defs {
			if _, err := pool.Exec(ctx, fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s %s", shadow, pgx.Identifier{c.Name}.Sanitize(), c.Def)); err != nil {
				return err
			}
		}
		if err := sh.copyTriggers(ctx, pool, t); err != nil {
			return err
		}
	}
	return nil
}

// copyTriggers gives a shadow table the live one's triggers (inbox_threads
// keeps inbox_counts by its triggers), so the replay writes what the live
// writes do. A trigger function names the projector's other tables without
// a schema, so in the shadow it reaches the shadow's tables.
func (sh *Shadow) copyTriggers(ctx context.Context, pool *pgxpool.Pool, table string) error {
	return sh.recreate(ctx, pool, table, "trigger", `SELECT pg_get_triggerdef(oid) FROM pg_trigger
		WHERE tgrelid = ('public.' || quote_ident($1))::regclass AND NOT tgisinternal ORDER BY tgname`)
}

// BuildIndexes creates on the shadow tables every other index of the live
// ones, under the same names, so the swapped-in tables are what the
// migrations made.
func (sh *Shadow) BuildIndexes(ctx context.Context, pool *pgxpool.Pool) error {
	for _, t := range sh.p.Tables() {
		err := sh.recreate(ctx, pool, t, "index", `SELECT indexdef FROM pg_indexes i WHERE schemaname = 'public' AND tablename = $1
			AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname AND c.conrelid = ('public.' || quote_ident($1))::regclass)`)
		if err != nil {
			return err
		}
	}
	return nil
}

// recreate runs on the shadow table the definitions (CREATE INDEX or
// CREATE TRIGGER statements) that defs, a query given the table's name,
// returns for the live one.
func (sh *Shadow) recreate(ctx context.Context, pool *pgxpool.Pool, table, what, defs string) error {
	rows, err := pool.Query(ctx, defs, table)
	if err != nil {
		return err
	}
	stmts, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	// Read-model tables have plain lower-case names, which the definitions do not quote.
	live := " ON public." + table + " "
	for _, def := range stmts {
		stmt := strings.Replace(def, live, " ON "+pgx.Identifier{sh.Schema, table}.Sanitize()+" ", 1)
		if stmt == def {
			return fmt.Errorf("unexpected %s definition %q", what, def)
		}
		if _, err := pool.Exec(ctx, stmt); err != nil {
			return err
		}
	}
	return nil
}

// catchUp replays events after the shadow's position up to target, a
// transaction per page.
func (sh *Shadow) catchUp(ctx context.Context, pool *pgxpool.Pool, src EventSource, registry *domain.Registry, target uint64) error {
	return sh.replay(ctx, src, target, func(evs []domain.RecordedEvent) error {
		_, err := ApplyBatch(ctx, pool, registry, sh.p, evs, sh.Schema, Hooks{})
		return err
	})
}

// catchUpInTx replays up to target inside a transaction already pointed at the shadow schema.
func (sh *Shadow) catchUpInTx(ctx context.Context, tx pgx.Tx, src EventSource, registry *domain.Registry, target uint64) error {
	return sh.replay(ctx, src, target, func(evs []domain.RecordedEvent) error {
		res, err := applyInTx(ctx, tx, registry, sh.p, evs, Hooks{}, false)
		if err == nil && res.halt != nil {
			err = res.halt
		}
		return err
	})
}

// replay reads the log after the shadow's position, page by page up to
// target, and hands each page to apply.
func (sh *Shadow) replay(ctx context.Context, src EventSource, target uint64, apply func([]domain.RecordedEvent) error) error {
	report := progressOf(ctx)
	for sh.Position < target {
		evs, err := src.ReadAll(ctx, sh.Position, ReplayPage)
		if err != nil {
			return err
		}
		evs = upTo(evs, target)
		if len(evs) == 0 {
			return nil
		}
		if err := apply(evs); err != nil {
			return err
		}
		sh.Position = evs[len(evs)-1].Position
		sh.Events += len(evs)
		report(sh.Position, target, sh.Events)
	}
	return nil
}

func upTo(evs []domain.RecordedEvent, target uint64) []domain.RecordedEvent {
	for i, e := range evs {
		if e.Position > target {
			return evs[:i]
		}
	}
	return evs
}

// Drop removes the shadow schema.
func (sh *Shadow) Drop(ctx context.Context, pool *pgxpool.Pool) error {
	_, err := pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{sh.Schema}.Sanitize()+" CASCADE")
	return err
}

// lockLive locks the projector's live checkpoint so the live projector cannot
// advance, catches the shadow up to it, and returns it. The caller's
// transaction is left pointed at the shadow schema.
func (sh *Shadow) lockLive(ctx context.Context, tx pgx.Tx, src EventSource, registry *domain.Registry) (uint64, error) {
	var live int64
	err := tx.QueryRow(ctx, `SELECT coalesce((SELECT position FROM public.projection_checkpoints WHERE projector = $1 FOR UPDATE), 0)`, sh.p.Name()).Scan(&live)
	if err != nil {
		return 0, err
	}
	if err := useSchema(ctx, tx, sh.Schema); err != nil {
		return 0, err
	}
	if err := sh.catchUpInTx(ctx, tx, src, registry, uint64(live)); err != nil {
		return 0, err
	}
	return uint64(live), nil
}

// waitForLive waits (bounded) until the live projector has reached the shadow,
// so both can be compared at one position.
func (sh *Shadow) waitForLive(ctx context.Context, pool *pgxpool.Pool, timeout time.Duration) error {
	fresh, err := WaitForPosition(ctx, pool, []string{sh.p.Name()}, sh.Position, timeout)
	if err != nil {
		return err
	}
	if !fresh {
		return fmt.Errorf("projector %s did not reach position %d within %s: is the service running?", sh.p.Name(), sh.Position, timeout)
	}
	return nil
}

// RebuildResult describes a finished rebuild.
type RebuildResult struct {
	Projector string
	Events    int
	Position  uint64
	Elapsed   time.Duration
}

// Rebuild replays a projector from position 0 into fresh tables while the live
// ones keep serving, then swaps the fresh tables in, in one short transaction.
// With no live projector running, the rebuilt tables take over at the head.
func Rebuild(ctx context.Context, pool *pgxpool.Pool, src EventSource, registry *domain.Registry, p Projector) (RebuildResult, error) {
	sh, err := BuildShadow(ctx, pool, src, registry, p)
	if err != nil {
		return RebuildResult{}, err
	}
	defer sh.Drop(context.Background(), pool) //nolint:errcheck
	if err := sh.BuildIndexes(ctx, pool); err != nil {
		return RebuildResult{}, fmt.Errorf("index rebuilt tables: %w", err)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return RebuildResult{}, err
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck
	live, err := sh.lockLive(ctx, tx, src, registry)
	if err != nil {
		return RebuildResult{}, err
	}
	if _, err := tx.Exec(ctx, "SELECT set_config('search_path', 'public', true)"); err != nil {
		return RebuildResult{}, err
	}
	trash := sh.Schema + "_old"
	if _, err := tx.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{trash}.Sanitize()); err != nil {
		return RebuildResult{}, err
	}
	for _, t := range p.Tables() {
		if err := swapTable(ctx, tx, sh.Schema, trash, t); err != nil {
			return RebuildResult{}, fmt.Errorf("swap %s: %w", t, err)
		}
	}
	if err := sh.mergeParked(ctx, tx); err != nil {
		return RebuildResult{}, fmt.Errorf("merge parked events: %w", err)
	}
	final := max(live, sh.Position)
	if _, err := tx.Exec(ctx, `INSERT INTO public.projection_checkpoints (projector, position) VALUES ($1, $2)
		ON CONFLICT (projector) DO UPDATE SET position = EXCLUDED.position, updated_at = now()`, p.Name(), int64(final)); err != nil {
		return RebuildResult{}, err
	}
	if _, err := tx.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{trash}.Sanitize()+" CASCADE"); err != nil {
		return RebuildResult{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return RebuildResult{}, err
	}
	return RebuildResult{Projector: p.Name(), Events: sh.Events, Position: final, Elapsed: sh.Elapsed}, nil
}

// mergeParked makes the live parked events agree with the rebuilt tables:
// what the replay parked is parked (a skip stays a skip), and what was parked
// but the replay applied is resolved.
func (sh *Shadow) mergeParked(ctx context.Context, tx pgx.Tx) error {
	shadow := pgx.Identifier{sh.Schema, "projection_parked"}.Sanitize()
	if _, err := tx.Exec(ctx, `INSERT INTO public.projection_parked (projector, position, event_id, stream_name, event_type, error)
		SELECT projector, position, event_id, stream_name, event_type, error FROM `+shadow+` WHERE projector = $1
		ON CONFLICT (projector, position) DO UPDATE SET error = EXCLUDED.error,
			reason = CASE WHEN projection_parked.state = 'resolved' THEN '' ELSE projection_parked.reason END,
			resolved_at = CASE WHEN projection_parked.state = 'resolved' THEN NULL ELSE projection_parked.resolved_at END,
			state = CASE WHEN projection_parked.state = 'resolved' THEN 'parked' ELSE projection_parked.state END`, sh.p.Name()); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `UPDATE public.projection_parked SET state = 'resolved', resolved_at = now(), reason = 'applied by a rebuild'
		WHERE projector = $1 AND state = 'parked' AND position NOT IN (SELECT position FROM `+shadow+` WHERE projector = $1)`, sh.p.Name())
	return err
}

// swapTable moves the live table out to trash and the shadow table in. The
// shadow's constraints and indexes carry the live ones' names, which are free
// in public once the live table has left.
func swapTable(ctx context.Context, tx pgx.Tx, shadow, trash, table string) error {
	if _, err := tx.Exec(ctx, fmt.Sprintf("ALTER TABLE public.%s SET SCHEMA %s", pgx.Identifier{table}.Sanitize(), pgx.Identifier{trash}.Sanitize())); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, fmt.Sprintf("ALTER TABLE %s SET SCHEMA public", pgx.Identifier{shadow, table}.Sanitize()))
	return err
}

// Difference is one row found in only one of the live and rebuilt tables.
type Difference struct {
	Table string
	Side  string // "only_in_live" or "only_in_rebuild"
	Row   string // the row as JSON
}

// Verify rebuilds a projector into shadow tables and compares them with the
// live ones at one position, returning up to limit differences.
func Verify(ctx context.Context, pool *pgxpool.Pool, src EventSource, registry *domain.Registry, p Projector, limit int) ([]Difference, error) {
	sh, err := BuildShadow(ctx, pool, src, registry, p)
	if err != nil {
		return nil, err
	}
	defer sh.Drop(context.Background(), pool) //nolint:errcheck
	if err := sh.waitForLive(ctx, pool, 30*time.Second); err != nil {
		return nil, err
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck
	if _, err := sh.lockLive(ctx, tx, src, registry); err != nil {
		return nil, err
	}
	var diffs []Difference
	for _, t := range p.Tables() {
		live, rebuilt := "public."+pgx.Identifier{t}.Sanitize(), pgx.Identifier{sh.Schema, t}.Sanitize()
		rows, err := tx.Query(ctx, fmt.Sprintf(`
			(SELECT 'only_in_live', row_to_json(x)::text FROM (SELECT * FROM %[1]s EXCEPT ALL SELECT * FROM %[2]s) x LIMIT $1)
			UNION ALL
			(SELECT 'only_in_rebuild', row_to_json(y)::text FROM (SELECT * FROM %[2]s EXCEPT ALL SELECT * FROM %[1]s) y LIMIT $1)`, live, rebuilt), limit)
		if err != nil {
			return nil, fmt.Errorf("compare %s: %w", t, err)
		}
		for rows.Next() {
			d := Difference{Table: t}
			if err := rows.Scan(&d.Side, &d.Row); err != nil {
				return nil, err
			}
			diffs = append(diffs, d)
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return diffs, nil
}

// ProjectorStatus is a projector's progress as stored.
type ProjectorStatus struct {
	Name       string
	Checkpoint uint64
	Head       uint64
	Lag        uint64
	Parked     int // events parked and neither retried nor skipped
}

// Statuses reads every projector's checkpoint, parked count and the log head.
func Statuses(ctx context.Context, q Querier, src EventSource) ([]ProjectorStatus, error) {
	head, err := src.HeadPosition(ctx)
	if err != nil {
		return nil, err
	}
	parked, err := ParkedCounts(ctx, q)
	if err != nil {
		return nil, err
	}
	var out []ProjectorStatus
	for _, p := range All() {
		cp, err := Checkpoint(ctx, q, p.Name())
		if err != nil {
			return nil, err
		}
		s := ProjectorStatus{Name: p.Name(), Checkpoint: cp, Head: head, Parked: parked[p.Name()]}
		if head > cp {
			s.Lag = head - cp
		}
		out = append(out, s)
	}
	return out, nil
}

package pgtest

// Bulk loading for benchmarks: COPY instead of one INSERT per row, with the
// rows made in a goroutine of their own so that making them (JSON encoding,
// hashing ids) overlaps sending them. A million events or read-model rows
// load in seconds, where the store's Append or the projectors would take
// minutes, so a benchmark can afford a realistic data set.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/migrations"
)

// Copier is what CopyRows writes through: a pool, a connection or a transaction.
type Copier interface {
	CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error)
}

// copyBatch is how many rows travel together from the generator to the COPY.
const copyBatch = 1024

// CopyRows streams the rows gen emits into table (a name, or schema.name) with
// one COPY and returns how many it wrote. gen runs in a goroutine of its own;
// emit returns false once the COPY has failed, and gen should then return.
// CopyRows returns only after gen has returned. An error of gen aborts the COPY.
func CopyRows(ctx context.Context, c Copier, table string, columns []string, gen func(emit func(row ...any) bool) error) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan [][]any, 8)
	var genErr error
	genDone := make(chan struct{})
	go func() {
		// genDone closes first, so a reader that finds batches closed
		// (Next returning false) sees the generator's error in Err.
		defer func() { close(genDone); close(batches) }()
		cur := make([][]any, 0, copyBatch)
		emit := func(row ...any) bool {
			cur = append(cur, row)
			if len(cur) < copyBatch {
				return ctx.Err() == nil
			}
			select {
			case batches <- cur:
				cur = make([][]any, 0, copyBatch)
				return true
			case <-ctx.Done():
				return false
			}
		}
		if err := gen(emit); err != nil {
			genErr = err
			return
		}
		if len(cur) > 0 {
			select {
			case batches <- cur:
			case <-ctx.Done():
			}
		}
	}()
	src := &chanSource{batches: batches, genDone: genDone, genErr: &genErr}
	n, err := c.CopyFrom(ctx, pgx.Identifier(strings.Split(table, ".")), columns, src)
	cancel()
	<-genDone
	if genErr != nil {
		return n, fmt.Errorf("copy into %s: make rows: %w", table, genErr)
	}
	if err != nil {
		return n, fmt.Errorf("copy into %s: %w", table, err)
	}
	return n, nil
}

// chanSource is a pgx.CopyFromSource over batches of rows from a channel.
type chanSource struct {
	batches <-chan [][]any
	genDone <-chan struct{}
	genErr  *error
	cur     [][]any
	i       int
}

func (s *chanSource) Next() bool {
	s.i++
	for s.i >= len(s.cur) {
		b, ok := <-s.batches
		if !ok {
			return false
		}
		s.cur, s.i = b, 0
	}
	return true
}

func (s *chanSource) Values() ([]any, error) { return s.cur[s.i], nil }

func (s *chanSource) Err() error {
	// The channel is closed only by the generator's goroutine on its way out,
	// so after Next returned false the error (if any) is set.
	select {
	case <-s.genDone:
		return *s.genErr
	default:
		return nil
	}
}

// BulkEvent is one event for CopyEvents: what an append to Stream would store.
type BulkEvent struct {
	Stream string
	Event  domain.ProposedEvent
	// Created is the stored creation time; zero means the time of the load.
	Created time.Time
}

// CopyEvents stores the events gen emits in the Postgres event store's tables
// (migrations/00001_event_store.sql) as appends would have, but with COPY:
// positions continue from the head and revisions from each stream's current
// revision, in one transaction that holds the store's append lock (appends
// wait meanwhile).
// It skips the store's checks (expected revisions, repeated event ids): gen
// must not emit an event id twice. Afterwards the tables are vacuumed and
// analyzed, as a long-lived log would be, so the first reader does not pay
// for setting hint bits on a million fresh rows. It returns the new head.
func CopyEvents(ctx context.Context, pool *pgxpool.Pool, gen func(emit func(BulkEvent) bool) error) (uint64, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck
	// The store's append lock (migrations/00034): appends wait meanwhile.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrations.EventStoreAppendLock); err != nil {
		return 0, fmt.Errorf("take the event store's append lock: %w", err)
	}
	var head int64
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(position), 0) FROM event_store_events`).Scan(&head); err != nil {
		return 0, fmt.Errorf("read the event store head: %w", err)
	}
	revisions := map[string]int64{}
	rows, err := tx.Query(ctx, `SELECT stream_name, max(revision) FROM event_store_events GROUP BY stream_name`)
	if err != nil {
		return 0, err
	}
	for rows.Next() {
		var name string
		var rev int64
		if err := rows.Scan(&name, &rev); err != nil {
			return 0, err
		}
		revisions[name] = rev
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	pos := head
	now := time.Now().UTC()
	_, err = CopyRows(ctx, tx, "event_store_events",
		[]string{"position", "stream_name", "revision", "event_id", "event_type", "data", "metadata", "created_at"},
		func(emit func(row ...any) bool) error {
			var failed error
			more := gen(func(e BulkEvent) bool {
				id, err := uuid.Parse(e.Event.ID)
				if err != nil {
					failed = fmt.Errorf("event %d: id %q is not a UUID", pos-head+1, e.Event.ID)
					return false
				}
				if e.Stream == "" || e.Event.Type == "" {
					failed = fmt.Errorf("event %d: empty stream or type", pos-head+1)
					return false
				}
				rev, ok := revisions[e.Stream]
				if !ok {
					rev = -1
				}
				rev++
				revisions[e.Stream] = rev
				pos++
				created := e.Created
				if created.IsZero() {
					created = now
				}
				return emit(pos, e.Stream, rev, [16]byte(id), e.Event.Type, nonNilBytes(e.Event.Data), nonNilBytes(e.Event.Metadata), created)
			})
			return errors.Join(failed, more)
		})
	if err != nil {
		return 0, err
	}
	if pos == head {
		return uint64(head), nil
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	if err := VacuumAnalyze(ctx, pool, "event_store_events"); err != nil {
		return 0, err
	}
	return uint64(pos), nil
}

func nonNilBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// VacuumAnalyze runs VACUUM (ANALYZE) on tables: planner statistics, hint
// bits and the visibility map (which index-only scans need) after a bulk load.
func VacuumAnalyze(ctx context.Context, pool *pgxpool.Pool, tables ...string) error {
	for _, t := range tables {
		if _, err := pool.Exec(ctx, "VACUUM (ANALYZE) "+pgx.Identifier(strings.Split(t, ".")).Sanitize()); err != nil {
			return fmt.Errorf("vacuum %s: %w", t, err)
		}
	}
	return nil
}

// WithoutIndexes drops table's indexes that no constraint owns (its primary
// key and unique constraints stay), runs load, and creates the dropped
// indexes again from their stored definitions: building an index once over
// loaded rows is much faster than maintaining it row by row, above all a GIN
// index. The indexes are created again even when load fails.
// maintenanceWorkMem (e.g. "512MB"; empty keeps the server's) is set for the
// index builds.
func WithoutIndexes(ctx context.Context, pool *pgxpool.Pool, table, maintenanceWorkMem string, load func() error) (err error) {
	rows, err := pool.Query(ctx, `SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
		FROM pg_index i
		WHERE i.indrelid = $1::regclass
		  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
		ORDER BY i.indexrelid`, table)
	if err != nil {
		return err
	}
	type index struct{ name, def string }
	indexes, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (index, error) {
		var ix index
		err := r.Scan(&ix.name, &ix.def)
		return ix, err
	})
	if err != nil {
		return err
	}
	for _, ix := range indexes {
		if _, err := pool.Exec(ctx, "DROP INDEX "+ix.name); err != nil {
			return fmt.Errorf("drop index %s: %w", ix.name, err)
		}
	}
	defer func() {
		conn, cerr := pool.Acquire(context.Background())
		if cerr != nil {
			err = errors.Join(err, cerr)
			return
		}
		defer conn.Release()
		if maintenanceWorkMem != "" {
			if _, cerr := conn.Exec(context.Background(), "SELECT set_config('maintenance_work_mem', $1, false)", maintenanceWorkMem); cerr != nil {
				err = errors.Join(err, cerr)
			}
			defer conn.Exec(context.Background(), "RESET maintenance_work_mem") //nolint:errcheck
		}
		for _, ix := range indexes {
			if _, cerr := conn.Exec(context.Background(), ix.def); cerr != nil {
				err = errors.Join(err, fmt.Errorf("create index %s again: %w", ix.name, cerr))
			}
		}
	}()
	return load()
}

// Package projections holds the read side: one projector per read model
// (event → SQL, idempotent, checkpointed in the same transaction) and the
// query functions the HTTP layer serves from those tables. It imports domain/
// and pgx only; the Watermill runner that feeds it lives in adapters/.
package projections

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/socialops/socialops/domain"
)

// Projector turns events into rows of the tables it owns.
type Projector interface {
	// Name is the projector's checkpoint key and its name on the command line.
	Name() string
	// Tables lists the tables it owns, in creation order; rebuild and verify copy them.
	Tables() []string
	// Handles tells which event types Apply acts on; others are not even
	// decoded (a test checks it agrees with Apply).
	Handles(eventType string) bool
	// Apply queues the SQL that applies one event. The SQL uses unqualified
	// table names, so the same code fills the live tables or a rebuild's
	// shadow schema.
	Apply(b *pgx.Batch, env domain.Envelope) error
}

// Flusher is a projector that stages what its events change and completes
// it once per transaction: Flush queues that SQL, which runs after the
// transaction's events and before its checkpoint moves.
type Flusher interface {
	Flush(b *pgx.Batch)
}

// Merger is a projector that can apply a run of consecutive events of a
// batch (consecutive among those it handles) in one statement where applying
// them one at a time would write the same row several times: a new row and
// then updates of it is one tuple and one entry per index instead of one per
// event. Merge looks at the events from the next one on, queues that
// statement for a run at their head and says how many events it covers (0:
// the first is applied on its own). Only a whole batch merges: the
// event-by-event pass (finding and parking a failing event) applies each
// with Apply.
type Merger interface {
	Merge(b *pgx.Batch, events []domain.Envelope) (int, error)
}

// queueFlush queues p's flush, when it has one; it tells whether it did.
func queueFlush(b *pgx.Batch, p Projector) bool {
	f, ok := p.(Flusher)
	if ok {
		f.Flush(b)
	}
	return ok
}

// flush runs p's flush in tx, when it has one.
func flush(ctx context.Context, tx pgx.Tx, p Projector) error {
	b := &pgx.Batch{}
	if !queueFlush(b, p) {
		return nil
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("flush %s: %w", p.Name(), err)
	}
	return nil
}

// eventTypes is a set of event type names.
type eventTypes map[string]bool

func typesOf(samples ...domain.Event) eventTypes {
	set := eventTypes{}
	for _, e := range samples {
		set[e.EventType()] = true
	}
	return set
}

// All returns every projector, in a fixed order.
func All() []Projector {
	return []Projector{InboxProjector{}, MessagesProjector{}, WalletProjector{}, ActionsProjector{}, ChannelsProjector{},
		OperatorsProjector{}, SessionsProjector{}, CRMProjector{}, ReportsProjector{}}
}

// Paced is a projector whose batches should start at most once per
// BatchInterval when it follows the log live: one with a cost per
// transaction (the reports projector's flush) pays it less often, and its
// read model trails by that much more.
type Paced interface {
	BatchInterval() time.Duration
}

// ByName finds a projector.
func ByName(name string) (Projector, bool) {
	for _, p := range All() {
		if p.Name() == name {
			return p, true
		}
	}
	return nil, false
}

// ApplyError is a failure to apply one event that is not the fault of the
// event's data: the database went away, a transaction conflicted, the
// projector's SQL has a bug. Retrying may help and parking would hide a fault
// that hits every event, so the projector halts on it (never skipping it) and
// retries; Position names the event it failed on.
type ApplyError struct {
	Projector string
	Position  uint64
	EventID   string
	EventType string
	Err       error
}

func (e *ApplyError) Error() string {
	return fmt.Sprintf("projector %s cannot apply %s at position %d: %v", e.Projector, e.EventType, e.Position, e.Err)
}

func (e *ApplyError) Unwrap() error { return e.Err }

// dataError is a failure caused by the event itself: it does not decode, its
// type is unknown to this build, or Apply refuses it.
type dataError struct{ err error }

func (e *dataError) Error() string { return e.err.Error() }
func (e *dataError) Unwrap() error { return e.err }

// IsDataError tells whether err is deterministic in the event's data, so that
// retrying cannot help and the event is parked rather than halting everyone:
// it does not decode, its type is unknown, or Postgres refused its values
// (SQLSTATE class 22, data exception, or 23, integrity constraint violation).
// Everything else (lost connections, cancelled contexts, serialization
// failures, undefined columns) is not, and halts the projector.
func IsDataError(err error) bool {
	var de *dataError
	if errors.As(err, &de) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "23")
	}
	return false
}

// Hooks let tests stop a batch at a chosen point.
type Hooks struct {
	// BeforeCheckpoint runs after the read-model change was sent and before the
	// checkpoint is written; an error aborts the transaction.
	BeforeCheckpoint func(ctx context.Context, projector string) error
}

// BatchResult is what applying a batch did.
type BatchResult struct {
	// Position is the checkpoint after the batch.
	Position uint64
	// Parked are the events of the batch parked for a data error, in position order.
	Parked []ParkedEvent
	// BatchFailure is why the batch failed as a whole and was applied event
	// by event instead (nil when it passed whole). With nothing parked and
	// no halt, every event then applied on its own: a passing fault, or the
	// batch's own SQL (a merged statement, a flush) failing where the events
	// did not, which would cost every batch the slow path.
	BatchFailure error
	// halt, when set, is the event the batch stopped on: what came before it is
	// kept (the transaction commits), then the batch fails with it.
	halt *ApplyError
}

// ApplyBatch applies consecutive events and advances the checkpoint in one
// transaction. Events at or below the checkpoint are skipped, so a redelivered
// batch is a no-op. schema, when not empty, is a rebuild's shadow schema.
//
// When the batch fails, it is applied again event by event: an event that
// fails with a data error (IsDataError) is parked in projection_parked, in the
// same transaction as the checkpoint moving past it, and the others are
// applied; on any other error the events before the failing one are kept and
// the batch fails with an *ApplyError naming the failing event.
//
// A batch of the live log (schema empty, no hook) that starts right after
// the checkpoint, as the subscription hands them, is first sent whole in
// one round trip (applyPipelined); any other batch, or one that does not
// pass whole, takes the path above. A live batch commits without waiting
// for the disk (asyncCommit); a rebuild's commits stay synchronous.
func ApplyBatch(ctx context.Context, pool *pgxpool.Pool, registry Decoder, p Projector, events []domain.RecordedEvent, schema string, hooks Hooks) (BatchResult, error) {
	if schema == "" && hooks.BeforeCheckpoint == nil {
		if nothingFor(p, registry, events) {
			if res, done, err := skipBatch(ctx, pool, p, events); done || err != nil {
				return res, err
			}
		}
		if res, done, err := applyPipelined(ctx, pool, registry, p, events); done || err != nil {
			return res, err
		}
	}
	res, err := applyBatchTx(ctx, pool, registry, p, events, schema, hooks, false)
	var lost *lostBatchError
	if errors.As(err, &lost) && ctx.Err() == nil {
		// The batch took its transaction down with it (a lost connection)
		// before the failing event was known: once more, event by event, in a
		// fresh transaction, to find it.
		res, err = applyBatchTx(ctx, pool, registry, p, events, schema, hooks, true)
	}
	return res, err
}

// nothingFor tells whether a batch holds nothing p acts on: every type is
// known to this build (an unknown one is parked) and none is handled by p.
func nothingFor(p Projector, registry Decoder, events []domain.RecordedEvent) bool {
	for _, raw := range events {
		if !registry.Knows(raw.Type) || p.Handles(raw.Type) {
			return false
		}
	}
	return len(events) > 0
}

// skipBatch moves p's checkpoint past a batch it has nothing to do in, with
// one statement, in one round trip with its transaction's begin and commit
// (issue 21): the full path (begin, lock and read the checkpoint, write it,
// commit) was four round trips per batch for each projector a webhook's
// events do not concern. It commits without waiting for the disk, as
// applyPipelined does (asyncCommit). The checkpoint only moves forward, as
// the full path would move it. done is false when the checkpoint row does
// not exist yet or is already past the batch: the full path then answers.
func skipBatch(ctx context.Context, pool *pgxpool.Pool, p Projector, events []domain.RecordedEvent) (res BatchResult, done bool, err error) {
	last := events[len(events)-1].Position
	var moved int64
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(asyncCommit)
	b.Queue(`UPDATE projection_checkpoints SET position = $2, updated_at = now() WHERE projector = $1 AND position < $2`,
		p.Name(), int64(last)).Exec(func(tag pgconn.CommandTag) error {
		moved = tag.RowsAffected()
		return nil
	})
	b.Queue("COMMIT")
	if err := pool.SendBatch(ctx, b).Close(); err != nil {
		return BatchResult{}, false, fmt.Errorf("move checkpoint of %s: %w", p.Name(), err)
	}
	return BatchResult{Position: last}, moved == 1, nil
}

func applyBatchTx(ctx context.Context, pool *pgxpool.Pool, registry Decoder, p Projector, events []domain.RecordedEvent, schema string, hooks Hooks, oneByOne bool) (BatchResult, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return BatchResult{}, err
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck
	if schema != "" {
		if err := useSchema(ctx, tx, schema); err != nil {
			return BatchResult{}, err
		}
	} else if _, err := tx.Exec(ctx, asyncCommit); err != nil {
		return BatchResult{}, err
	}
	res, err := applyInTx(ctx, tx, registry, p, events, hooks, oneByOne)
	if err != nil {
		return BatchResult{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return BatchResult{}, fmt.Errorf("commit %s: %w", p.Name(), err)
	}
	if res.halt != nil {
		return res, res.halt
	}
	return res, nil
}

// lostBatchError is a batch that failed and left its transaction unusable.
type lostBatchError struct {
	projector   string
	first, last uint64
	err         error
}

func (e *lostBatchError) Error() string {
	return fmt.Sprintf("projector %s at positions %d..%d: %v", e.projector, e.first, e.last, e.err)
}

func (e *lostBatchError) Unwrap() error { return e.err }

// useSchema points the transaction's unqualified table names at a shadow schema.
func useSchema(ctx context.Context, tx pgx.Tx, schema string) error {
	_, err := tx.Exec(ctx, "SELECT set_config('search_path', $1, true)", pgx.Identifier{schema}.Sanitize()+", public")
	return err
}

// pendingEvent is an event after the checkpoint that the projector acts on
// (or cannot tell, its type being unknown).
type pendingEvent struct {
	raw    domain.RecordedEvent
	env    domain.Envelope
	before uint64 // the checkpoint just before it
	bad    error  // a data error found before any SQL ran
}

// pendingAfter lists the events after checkpoint that p acts on (or cannot
// tell, their type being unknown), decoded, with a data error found before
// any SQL runs in bad; last is the position of the batch's last event (the
// checkpoint after it).
func pendingAfter(registry Decoder, p Projector, events []domain.RecordedEvent, checkpoint uint64) (pending []*pendingEvent, last uint64) {
	last = checkpoint
	for _, raw := range events {
		if raw.Position <= last {
			continue // already applied: redelivery is a no-op
		}
		ev := &pendingEvent{raw: raw, before: last}
		last = raw.Position
		switch {
		case !registry.Knows(raw.Type):
			// A type this build does not know may matter to any projector:
			// every one of them parks it.
			ev.bad = &dataError{&domain.UnknownEventTypeError{Type: raw.Type, Position: raw.Position}}
		case !p.Handles(raw.Type):
			continue
		default:
			var err error
			if ev.env, err = registry.Decode(raw); err != nil {
				ev.bad = &dataError{err}
			}
		}
		pending = append(pending, ev)
	}
	return pending, last
}

// queuePending queues the SQL of the pending events, merged where p merges
// runs of them. passes is false when the batch cannot pass whole: an event
// is bad (Apply refusing one marks it so) or a merge failed (mergeErr; the
// event-by-event pass finds which event fails).
func queuePending(b *pgx.Batch, p Projector, pending []*pendingEvent) (passes bool, mergeErr error) {
	passes = true
	merger, _ := p.(Merger)
	var envs []domain.Envelope // the events to merge from, when all are good
	if merger != nil {
		envs = make([]domain.Envelope, 0, len(pending))
		for _, ev := range pending {
			if ev.bad != nil {
				envs = nil // the batch cannot pass: go event by event at once
				break
			}
			envs = append(envs, ev.env)
		}
	}
	for i := 0; i < len(pending); i++ {
		ev := pending[i]
		if envs != nil {
			n, err := merger.Merge(b, envs[i:])
			if err != nil {
				return false, err
			}
			if n > 0 {
				i += n - 1
				continue
			}
		}
		if ev.bad == nil {
			ev.bad = queueEvent(b, p, ev)
		}
		if ev.bad != nil {
			passes = false
		}
	}
	return passes, nil
}

// applyInTx applies events after the checkpoint and advances it, inside tx.
// It first sends the whole batch at once; if that fails (or oneByOne), it
// applies event by event, each under a savepoint, parking data errors.
func applyInTx(ctx context.Context, tx pgx.Tx, registry Decoder, p Projector, events []domain.RecordedEvent, hooks Hooks, oneByOne bool) (BatchResult, error) {
	var checkpoint int64
	err := tx.QueryRow(ctx, `SELECT position FROM projection_checkpoints WHERE projector = $1 FOR UPDATE`, p.Name()).Scan(&checkpoint)
	if errors.Is(err, pgx.ErrNoRows) {
		if _, err := tx.Exec(ctx, `INSERT INTO projection_checkpoints (projector, position) VALUES ($1, 0) ON CONFLICT DO NOTHING`, p.Name()); err != nil {
			return BatchResult{}, err
		}
		err = tx.QueryRow(ctx, `SELECT position FROM projection_checkpoints WHERE projector = $1 FOR UPDATE`, p.Name()).Scan(&checkpoint)
	}
	if err != nil {
		return BatchResult{}, fmt.Errorf("read checkpoint of %s: %w", p.Name(), err)
	}
	pending, last := pendingAfter(registry, p, events, uint64(checkpoint))
	if last == uint64(checkpoint) {
		return BatchResult{Position: last}, nil
	}
	// The whole batch in one round trip, under a savepoint so that a failure
	// leaves the transaction usable for the event-by-event pass.
	b := &pgx.Batch{}
	b.Queue("SAVEPOINT projector_batch")
	passes, batchFailure := queuePending(b, p, pending)
	oneByOne = oneByOne || !passes
	// With nothing to park and no hook before it, the checkpoint moves in
	// the batch's own round trip.
	inBatch, checkpointed := hooks.BeforeCheckpoint == nil, false
	if !oneByOne && b.Len() > 1 {
		queueFlush(b, p)
		if inBatch {
			queueCheckpoint(b, p, last)
		}
		b.Queue("RELEASE SAVEPOINT projector_batch")
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			if _, rbErr := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT projector_batch"); rbErr != nil {
				return BatchResult{}, &lostBatchError{projector: p.Name(), first: pending[0].raw.Position, last: last, err: err}
			}
			oneByOne, batchFailure = true, err
		} else {
			checkpointed = inBatch
		}
	}
	res := BatchResult{Position: last, BatchFailure: batchFailure}
	if oneByOne {
		for _, ev := range pending {
			if ev.bad == nil {
				failed, usable := applyOne(ctx, tx, p, ev)
				if failed == nil {
					continue
				}
				if !IsDataError(failed) {
					halt := &ApplyError{Projector: p.Name(), Position: ev.raw.Position, EventID: ev.raw.ID, EventType: ev.raw.Type, Err: failed}
					if !usable || ctx.Err() != nil {
						return BatchResult{}, halt
					}
					// Keep what came before it; halt on it.
					res = BatchResult{Position: ev.before, Parked: res.Parked, halt: halt}
					break
				}
				ev.bad = failed
			}
			res.Parked = append(res.Parked, parkedOf(p, ev))
		}
		if err := flush(ctx, tx, p); err != nil {
			return BatchResult{}, err
		}
	}
	if err := park(ctx, tx, res.Parked); err != nil {
		return BatchResult{}, fmt.Errorf("park events of %s: %w", p.Name(), err)
	}
	if res.Position == uint64(checkpoint) || checkpointed {
		return res, nil
	}
	if hooks.BeforeCheckpoint != nil {
		if err := hooks.BeforeCheckpoint(ctx, p.Name()); err != nil {
			return BatchResult{}, err
		}
	}
	b = &pgx.Batch{}
	queueCheckpoint(b, p, res.Position)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return BatchResult{}, fmt.Errorf("write checkpoint of %s: %w", p.Name(), err)
	}
	return res, nil
}

// queueCheckpoint queues the move of p's checkpoint to position.
func queueCheckpoint(b *pgx.Batch, p Projector, position uint64) {
	b.Queue(`UPDATE projection_checkpoints SET position = $2, updated_at = now() WHERE projector = $1`, p.Name(), int64(position))
}

// queueEvent queues the SQL of one decoded event; a refusal is a data error.
func queueEvent(b *pgx.Batch, p Projector, ev *pendingEvent) error {
	if err := p.Apply(b, ev.env); err != nil {
		return &dataError{err}
	}
	return nil
}

// applyOne applies one event under a savepoint. usable tells whether the
// transaction can go on after a failure (the savepoint was rolled back).
func applyOne(ctx context.Context, tx pgx.Tx, p Projector, ev *pendingEvent) (failed error, usable bool) {
	// Fresh statements: pgx keeps per-connection state in queued queries.
	b := &pgx.Batch{}
	b.Queue("SAVEPOINT projector_event")
	if err := queueEvent(b, p, ev); err != nil {
		return err, true
	}
	b.Queue("RELEASE SAVEPOINT projector_event")
	err := tx.SendBatch(ctx, b).Close()
	if err == nil {
		return nil, true
	}
	if _, rbErr := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT projector_event"); rbErr != nil {
		return err, false
	}
	return err, true
}

// Checkpoint reads a projector's checkpoint (0 when it never ran).
func Checkpoint(ctx context.Context, q Querier, projector string) (uint64, error) {
	var pos int64
	err := q.QueryRow(ctx, `SELECT position FROM projection_checkpoints WHERE projector = $1`, projector).Scan(&pos)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return uint64(pos), nil
}

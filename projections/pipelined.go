package projections

// The live path of a projector batch in one round trip (issue 21).

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/socialops/socialops/domain"
)

// asyncCommit makes a read model's transaction commit without waiting for
// the disk. A read model is a function of the log, which is committed
// durably before any projector sees it, and its checkpoint moves in the
// same transaction: a crash of Postgres can take back the last moments of
// a projector's progress (at most three wal_writer_delay, 600 ms by
// default, and only until the next synchronous commit of anything, which
// flushes the WAL before it), rows and checkpoint together, and the
// projector applies those events again when it starts. The live path's
// transactions use it (applyPipelined, skipBatch, and the careful path of
// the live log); the log, the other followers' checkpoints, a rebuild's
// commits and every other write keep synchronous commits.
const asyncCommit = "SET LOCAL synchronous_commit TO off"

// applyPipelined applies a batch of the live log in one round trip: begin,
// the claim of the checkpoint at the position just before the batch and its
// move to the batch's last position (one statement), the events' SQL, the
// flush and commit, sent at once.
// The subscription hands a projector the events right after its checkpoint
// (positions are dense), so the claim holds for every batch but a
// redelivery, a first run or a checkpoint moved by another process. done
// is false when the batch needs the careful path (applyBatchTx): the claim
// was refused, an event is bad or its SQL failed, or an event's type is
// unknown. Nothing of a batch that did not pass is kept.
func applyPipelined(ctx context.Context, pool *pgxpool.Pool, registry Decoder, p Projector, events []domain.RecordedEvent) (res BatchResult, done bool, err error) {
	if events[0].Position == 0 {
		return BatchResult{}, false, nil
	}
	expected := events[0].Position - 1
	pending, last := pendingAfter(registry, p, events, expected)
	if len(pending) == 0 {
		return BatchResult{}, false, nil
	}
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(asyncCommit)
	// The claim and the checkpoint's move, in one statement (migration
	// 00041): the row stays locked to the commit.
	b.Queue(`SELECT projection_batch_advance($1, $2, $3)`, p.Name(), int64(expected), int64(last))
	if passes, _ := queuePending(b, p, pending); !passes {
		return BatchResult{}, false, nil
	}
	queueFlush(b, p)
	b.Queue("COMMIT")

	conn, err := pool.Acquire(ctx)
	if err != nil {
		return BatchResult{}, false, fmt.Errorf("apply %s: %w", p.Name(), err)
	}
	defer conn.Release()
	sendErr := conn.SendBatch(ctx, b).Close()
	if sendErr == nil {
		return BatchResult{Position: last}, true, nil
	}
	// Postgres skipped the rest of the batch, COMMIT included: end the
	// transaction it began before the connection goes back to the pool.
	if conn.Conn().PgConn().TxStatus() != 'I' {
		if _, rbErr := conn.Exec(context.Background(), "ROLLBACK"); rbErr != nil {
			conn.Conn().Close(context.Background()) //nolint:errcheck // the pool drops a closed connection
		}
	}
	if ctx.Err() != nil {
		return BatchResult{}, false, ctx.Err()
	}
	// A refused claim (SQLSTATE SO001), or a statement that failed: the
	// careful path reads the checkpoint and applies the batch again, and
	// event by event finds what failed, parking a data error and halting
	// on any other.
	return BatchResult{}, false, nil
}

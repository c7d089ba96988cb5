package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/socialops/socialops/domain"
)

// ErrIdempotencyKeyReused is an Idempotency-Key sent again for another thread.
var ErrIdempotencyKeyReused = &domain.Error{Code: "idempotency_key_reused", Message: "this Idempotency-Key was used for another thread within 24 hours"}

// IdempotencyKeys remembers, for 24 hours, which reply an Idempotency-Key made.
type IdempotencyKeys struct{ pool *pgxpool.Pool }

// NewIdempotencyKeys returns the store.
func NewIdempotencyKeys(pool *pgxpool.Pool) *IdempotencyKeys { return &IdempotencyKeys{pool: pool} }

// ClaimedReply names the reply a key stands for.
type ClaimedReply struct {
	ThreadID  string
	MessageID string
	ActionID  string
}

// Claim stores the proposed reply ids under (user, key) unless the key was
// used in the last 24 hours, in which case it returns the first ids. A key
// older than 24 hours is taken over by the new request.
func (k *IdempotencyKeys) Claim(ctx context.Context, user, key string, proposed ClaimedReply) (ClaimedReply, bool, error) {
	var got ClaimedReply
	err := k.pool.QueryRow(ctx, `INSERT INTO idempotency_keys (user_id, key, thread_id, message_id, action_id)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (user_id, key) DO UPDATE SET thread_id = EXCLUDED.thread_id, message_id = EXCLUDED.message_id,
			action_id = EXCLUDED.action_id, created_at = now()
		WHERE idempotency_keys.created_at < now() - interval '24 hours'
		RETURNING thread_id, message_id, action_id`, user, key, proposed.ThreadID, proposed.MessageID, proposed.ActionID).
		Scan(&got.ThreadID, &got.MessageID, &got.ActionID)
	if err == nil {
		return got, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return ClaimedReply{}, false, fmt.Errorf("claim idempotency key: %w", err)
	}
	err = k.pool.QueryRow(ctx, `SELECT thread_id, message_id, action_id FROM idempotency_keys WHERE user_id = $1 AND key = $2`, user, key).
		Scan(&got.ThreadID, &got.MessageID, &got.ActionID)
	if err != nil {
		return ClaimedReply{}, false, fmt.Errorf("read idempotency key: %w", err)
	}
	if got.ThreadID != proposed.ThreadID {
		return ClaimedReply{}, false, ErrIdempotencyKeyReused
	}
	return got, false, nil
}

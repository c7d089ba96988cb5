package postgres

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/socialops/socialops/domain"
)

// ErrIdempotencyKeyReused is an Idempotency-Key sent again with another request.
var ErrIdempotencyKeyReused = &domain.Error{Code: "idempotency_key_reused", Message: "this Idempotency-Key was used within 24 hours for another request (another thread or another text)"}

// IdempotencyKeys remembers, for 24 hours, which reply an Idempotency-Key made
// and a hash of the request that made it.
type IdempotencyKeys struct{ pool *pgxpool.Pool }

// NewIdempotencyKeys returns the store.
func NewIdempotencyKeys(pool *pgxpool.Pool) *IdempotencyKeys { return &IdempotencyKeys{pool: pool} }

// ClaimedReply names the reply a key stands for, and the request it answers.
type ClaimedReply struct {
	ThreadID  string
	MessageID string
	ActionID  string
	// RequestHash identifies what was asked (ReplyRequestHash); a repeat of
	// the key must carry the same.
	RequestHash []byte
}

// ReplyRequestHash is the SHA-256 of a reply request's fields: the same key
// with another thread or text is another request.
func ReplyRequestHash(threadID, text string) []byte {
	sum := sha256.Sum256([]byte(threadID + "\x00" + text))
	return sum[:]
}

// Claim stores the proposed reply under (user, key) unless the key was used
// in the last 24 hours: then it returns the first ids when the request is the
// same, and ErrIdempotencyKeyReused when it is not. fresh tells that this call
// made the claim (so it may Release it). A key older than 24 hours is taken
// over by the new request.
func (k *IdempotencyKeys) Claim(ctx context.Context, user, key string, proposed ClaimedReply) (ClaimedReply, bool, error) {
	// A claim released between the insert and the read is claimed again.
	for attempt := 0; ; attempt++ {
		var got ClaimedReply
		err := k.pool.QueryRow(ctx, `INSERT INTO idempotency_keys (user_id, key, thread_id, message_id, action_id, request_hash)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (user_id, key) DO UPDATE SET thread_id = EXCLUDED.thread_id, message_id = EXCLUDED.message_id,
				action_id = EXCLUDED.action_id, request_hash = EXCLUDED.request_hash, created_at = now()
			WHERE idempotency_keys.created_at < now() - interval '24 hours'
			RETURNING thread_id, message_id, action_id, request_hash`,
			user, key, proposed.ThreadID, proposed.MessageID, proposed.ActionID, proposed.RequestHash).
			Scan(&got.ThreadID, &got.MessageID, &got.ActionID, &got.RequestHash)
		if err == nil {
			return got, true, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return ClaimedReply{}, false, fmt.Errorf("claim idempotency key: %w", err)
		}
		err = k.pool.QueryRow(ctx, `SELECT thread_id, message_id, action_id, request_hash FROM idempotency_keys WHERE user_id = $1 AND key = $2`, user, key).
			Scan(&got.ThreadID, &got.MessageID, &got.ActionID, &got.RequestHash)
		if errors.Is(err, pgx.ErrNoRows) && attempt < 3 {
			continue
		}
		if err != nil {
			return ClaimedReply{}, false, fmt.Errorf("read idempotency key: %w", err)
		}
		// Rows from before request hashes existed compare by thread only.
		if got.ThreadID != proposed.ThreadID || (got.RequestHash != nil && !bytes.Equal(got.RequestHash, proposed.RequestHash)) {
			return ClaimedReply{}, false, ErrIdempotencyKeyReused
		}
		return got, false, nil
	}
}

// Release gives a key back after the request that claimed it was refused, so
// a failed first try does not hold the key for 24 hours. Only the claim of
// that request (its action id) is removed.
func (k *IdempotencyKeys) Release(ctx context.Context, user, key string, claimed ClaimedReply) error {
	if _, err := k.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2 AND action_id = $3`,
		user, key, claimed.ActionID); err != nil {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}

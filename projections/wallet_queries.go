package projections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Balance returns an owner's projected balance in micro-USD (0 without any entry).
func Balance(ctx context.Context, q Querier, ownerID string) (int64, error) {
	var b int64
	err := q.QueryRow(ctx, `SELECT balance_micro_usd FROM wallet_balances WHERE owner_id = $1`, ownerID).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read balance: %w", err)
	}
	return b, nil
}

// LedgerEntry is one credit, charge or refund.
type LedgerEntry struct {
	EntryID         string    `json:"entry_id"`
	Kind            string    `json:"kind"`
	AmountMicroUSD  int64     `json:"amount_micro_usd"` // signed: charges are negative
	Reason          string    `json:"reason"`
	ThreadID        *string   `json:"thread_id,omitempty"`
	MessageID       *string   `json:"message_id,omitempty"`
	ActionID        *string   `json:"action_id,omitempty"`
	ReversesEntryID *string   `json:"reverses_entry_id,omitempty"`
	CreatedAt       time.Time `json:"created_at"`
}

// LedgerPage is one page of a ledger, newest first.
type LedgerPage struct {
	Entries []LedgerEntry `json:"entries"`
	Total   int           `json:"total"`
	Page    int           `json:"page"`
	Limit   int           `json:"limit"`
	HasMore bool          `json:"has_more"`
}

// Ledger returns an owner's ledger entries, newest first.
func Ledger(ctx context.Context, q Querier, ownerID string, page, limit int) (LedgerPage, error) {
	var total int
	if err := q.QueryRow(ctx, `SELECT count(*) FROM wallet_ledger WHERE owner_id = $1`, ownerID).Scan(&total); err != nil {
		return LedgerPage{}, fmt.Errorf("count ledger: %w", err)
	}
	rows, err := q.Query(ctx, `SELECT entry_id, kind, CASE WHEN kind = 'charge' THEN -amount_micro_usd ELSE amount_micro_usd END,
			reason, thread_id, message_id, action_id, reverses_entry_id, created_at
		FROM wallet_ledger WHERE owner_id = $1 ORDER BY position DESC, entry_id LIMIT $2 OFFSET $3`, ownerID, limit, (page-1)*limit)
	if err != nil {
		return LedgerPage{}, fmt.Errorf("list ledger: %w", err)
	}
	entries, err := collect(rows, func(r pgx.CollectableRow) (LedgerEntry, error) {
		var e LedgerEntry
		err := r.Scan(&e.EntryID, &e.Kind, &e.AmountMicroUSD, &e.Reason, &e.ThreadID, &e.MessageID, &e.ActionID, &e.ReversesEntryID, &e.CreatedAt)
		e.CreatedAt = e.CreatedAt.UTC()
		return e, err
	})
	if err != nil {
		return LedgerPage{}, fmt.Errorf("list ledger: %w", err)
	}
	return LedgerPage{Entries: entries, Total: total, Page: page, Limit: limit, HasMore: page*limit < total}, nil
}

// FindChannel finds the channel of an instance bound to a chat: the newest
// active one, else the newest inactive one (so a delivery can say why it fails).
func FindChannel(ctx context.Context, q Querier, instanceID, provider, chatID string) (string, bool, error) {
	var id string
	err := q.QueryRow(ctx, `SELECT channel_id FROM channels WHERE instance_id = $1 AND provider = $2 AND external_channel_id = $3
		ORDER BY (status = 'active') DESC, created_at DESC, channel_id LIMIT 1`, instanceID, provider, chatID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("find channel: %w", err)
	}
	return id, true, nil
}

// ActionRef names an action to drive.
type ActionRef struct {
	ActionID string
	ThreadID string
}

// UnsettledActions lists actions still pending or processing whose last
// change is older than before: the sweep re-drives them.
func UnsettledActions(ctx context.Context, q Querier, before time.Time, limit int) ([]ActionRef, error) {
	rows, err := q.Query(ctx, `SELECT action_id, thread_id FROM reply_actions WHERE status IN ('pending', 'processing') AND updated_at < $1
		ORDER BY updated_at LIMIT $2`, before, limit)
	if err != nil {
		return nil, fmt.Errorf("list unsettled actions: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (ActionRef, error) {
		var a ActionRef
		return a, r.Scan(&a.ActionID, &a.ThreadID)
	})
}

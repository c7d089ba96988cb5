package projections

import (
	"github.com/jackc/pgx/v5"

	"github.com/socialops/socialops/domain"
)

// Ledger entry kinds.
const (
	LedgerCredit = "credit"
	LedgerCharge = "charge"
	LedgerRefund = "refund"
)

// WalletProjector keeps wallet_balances and wallet_ledger. The balance is
// credits − charges + refunds, entry by entry.
type WalletProjector struct{}

func (WalletProjector) Name() string     { return "wallet" }
func (WalletProjector) Tables() []string { return []string{"wallet_balances", "wallet_ledger"} }

var walletTypes = typesOf(domain.WalletCredited{}, domain.ChargeApplied{}, domain.RefundApplied{})

func (WalletProjector) Handles(t string) bool { return walletTypes[t] }

func (WalletProjector) Apply(b *pgx.Batch, env domain.Envelope) error {
	at := occurredAt(env)
	pos := int64(env.Raw.Position)
	switch e := env.Payload.(type) {
	case domain.WalletCredited:
		queueEntry(b, e.CreditID, e.OwnerID, LedgerCredit, e.AmountMicroUSD, e.AmountMicroUSD, e.Note, "", "", "", "", at, pos)
	case domain.ChargeApplied:
		queueEntry(b, e.ChargeID, e.OwnerID, LedgerCharge, e.AmountMicroUSD, -e.AmountMicroUSD, e.Reason, e.ThreadID, e.MessageID, e.ActionID, "", at, pos)
	case domain.RefundApplied:
		queueEntry(b, e.RefundID, e.OwnerID, LedgerRefund, e.AmountMicroUSD, e.AmountMicroUSD, e.Reason, e.ThreadID, "", e.ActionID, e.ChargeID, at, pos)
	}
	return nil
}

// queueEntry adds a ledger entry and moves the owner's balance by delta, in
// one statement: an entry id the ledger holds already (a charge whose message
// was stored on two threads by a build that deduplicated per thread only)
// changes neither, so a repeated id is a no-op and never halts the projector.
func queueEntry(b *pgx.Batch, id, owner, kind string, amount, delta int64, reason, thread, message, action, reverses string, at any, pos int64) {
	queue(b, `WITH entry AS (
			INSERT INTO wallet_ledger (entry_id, owner_id, kind, amount_micro_usd, reason, thread_id, message_id, action_id, reverses_entry_id, created_at, position)
			VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''), NULLIF($7, ''), NULLIF($8, ''), NULLIF($9, ''), $10, $11)
			ON CONFLICT (entry_id) DO NOTHING
			RETURNING owner_id)
		INSERT INTO wallet_balances (owner_id, balance_micro_usd, updated_at) SELECT owner_id, $12::bigint, $10 FROM entry
		ON CONFLICT (owner_id) DO UPDATE SET balance_micro_usd = wallet_balances.balance_micro_usd + EXCLUDED.balance_micro_usd,
			updated_at = EXCLUDED.updated_at`,
		id, owner, kind, amount, reason, thread, message, action, reverses, at, pos, delta)
}

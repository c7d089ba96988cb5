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
		queueLedger(b, e.CreditID, e.OwnerID, LedgerCredit, e.AmountMicroUSD, e.Note, "", "", "", "", at, pos)
		queueBalance(b, e.OwnerID, e.AmountMicroUSD, at)
	case domain.ChargeApplied:
		queueLedger(b, e.ChargeID, e.OwnerID, LedgerCharge, e.AmountMicroUSD, e.Reason, e.ThreadID, e.MessageID, e.ActionID, "", at, pos)
		queueBalance(b, e.OwnerID, -e.AmountMicroUSD, at)
	case domain.RefundApplied:
		queueLedger(b, e.RefundID, e.OwnerID, LedgerRefund, e.AmountMicroUSD, e.Reason, e.ThreadID, "", e.ActionID, e.ChargeID, at, pos)
		queueBalance(b, e.OwnerID, e.AmountMicroUSD, at)
	}
	return nil
}

func queueLedger(b *pgx.Batch, id, owner, kind string, amount int64, reason, thread, message, action, reverses string, at any, pos int64) {
	queue(b, `INSERT INTO wallet_ledger (entry_id, owner_id, kind, amount_micro_usd, reason, thread_id, message_id, action_id, reverses_entry_id, created_at, position)
		VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''), NULLIF($7, ''), NULLIF($8, ''), NULLIF($9, ''), $10, $11)`,
		id, owner, kind, amount, reason, thread, message, action, reverses, at, pos)
}

func queueBalance(b *pgx.Batch, owner string, delta int64, at any) {
	queue(b, `INSERT INTO wallet_balances (owner_id, balance_micro_usd, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (owner_id) DO UPDATE SET balance_micro_usd = wallet_balances.balance_micro_usd + EXCLUDED.balance_micro_usd,
			updated_at = EXCLUDED.updated_at`, owner, delta, at)
}

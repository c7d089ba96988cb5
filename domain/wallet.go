package domain

// WalletStream names an owner's wallet stream, which holds credits. Charges
// and refunds live on the stream of what caused them (a thread for an inbound
// message, a delivery for a reply) so each is atomic with its cause; the
// ledger read model joins them per owner.
func WalletStream(ownerID string) string { return "wallet-" + ownerID }

// WalletCredited adds money to an owner's wallet.
type WalletCredited struct {
	CreditID       string `json:"credit_id"`
	OwnerID        string `json:"owner_id"`
	AmountMicroUSD int64  `json:"amount_micro_usd"`
	Note           string `json:"note,omitempty"`
}

func (WalletCredited) EventType() string { return "WalletCredited" }

// MaxCreditMicroUSD bounds one credit (1,000,000 USD) so a typo cannot
// overflow a balance.
const MaxCreditMicroUSD int64 = 1_000_000 * 1_000_000

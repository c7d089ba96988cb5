package domain

// WalletStream names an owner's wallet stream. It holds credits, and reply
// charges and their refunds, so that deciding a reply charge against the
// balance and appending it is one append with an expected revision. An
// inbound message's charge lives on its thread, atomic with the message (it
// is not decided: a received message is charged whatever the balance), and
// deliveries recorded before reply charges moved here have theirs on the
// delivery stream; the ledger read model joins them per owner.
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

// ErrInsufficientBalance: the wallet cannot pay for a reply.
var ErrInsufficientBalance = &Error{Code: DeliveryInsufficientBalance, Message: "the wallet cannot pay for this"}

// WalletTail is the newest part of an owner's wallet stream: its events after
// some log position, newest first, and the stream's version (-1 when the
// stream does not exist).
type WalletTail struct {
	Version int64
	Events  []Envelope
}

// ChangeAfter is what the tail's events after a log position do to a
// balance: credits and refunds add, charges take.
func (w WalletTail) ChangeAfter(position uint64) int64 {
	var delta int64
	for _, env := range w.Events {
		if env.Raw.Position <= position {
			continue
		}
		switch e := env.Payload.(type) {
		case WalletCredited:
			delta += e.AmountMicroUSD
		case ChargeApplied:
			delta -= e.AmountMicroUSD
		case RefundApplied:
			delta += e.AmountMicroUSD
		}
	}
	return delta
}

// FindCharge finds a charge in the tail, with its log position.
func (w WalletTail) FindCharge(chargeID string) (ChargeApplied, uint64, bool) {
	for _, env := range w.Events {
		if c, ok := env.Payload.(ChargeApplied); ok && c.ChargeID == chargeID {
			return c, env.Raw.Position, true
		}
	}
	return ChargeApplied{}, 0, false
}

// FindRefund finds the refund of a charge in the tail, with its log position.
func (w WalletTail) FindRefund(chargeID string) (RefundApplied, uint64, bool) {
	for _, env := range w.Events {
		if r, ok := env.Payload.(RefundApplied); ok && r.ChargeID == chargeID {
			return r, env.Raw.Position, true
		}
	}
	return RefundApplied{}, 0, false
}

// DecideReplyCharge decides a reply charge. projected is the owner's balance
// in the read model, exact up to the log position projectedAt; the tail must
// hold every wallet event after it. The charge is appended expecting the
// tail's version, so no other wallet event can slip in between the check and
// the charge.
func DecideReplyCharge(tail WalletTail, projected int64, projectedAt uint64, charge ChargeApplied) error {
	available := projected + tail.ChangeAfter(projectedAt)
	if available < charge.AmountMicroUSD {
		return Errorf(ErrInsufficientBalance, "the wallet holds %d micro-USD; a reply costs %d", available, charge.AmountMicroUSD)
	}
	return nil
}

package commands

import (
	"context"
	"errors"
	"fmt"

	"github.com/socialops/socialops/domain"
)

// A reply's fee is charged on the owner's wallet stream, so that the balance
// check and the charge are one decision guarded by the stream's revision: of
// two replies deciding on the same money, one append conflicts, reloads and
// sees the other's charge. The balance decided on is the wallet read model's
// (which also counts inbound charges, on thread streams) at the wallet
// projector's checkpoint, plus every wallet event after that checkpoint read
// from the stream itself; so an unprojected charge or credit is never missed.
//
// Both the charge and its refund carry ids derived from the action, and each
// is looked for in the stream before it is appended, so a drive resuming after
// a crash between the wallet append and the delivery's record of it finds the
// charge (or refund) instead of making a second one.

// walletReadPage is how many wallet events one backwards read returns.
const walletReadPage = 200

// walletTail reads an owner's wallet stream backwards down to the log
// position after (exclusive).
func (m *DeliveryManager) walletTail(ctx context.Context, ownerID string, after uint64) (domain.WalletTail, error) {
	stream := domain.WalletStream(ownerID)
	tail := domain.WalletTail{Version: -1}
	from := domain.StreamEnd
	for {
		evs, err := m.s.log.ReadStream(ctx, stream, domain.Backwards, from, walletReadPage)
		if errors.Is(err, domain.ErrStreamNotFound) {
			return tail, nil
		}
		if err != nil {
			return tail, fmt.Errorf("read %s: %w", stream, err)
		}
		for _, raw := range evs {
			if tail.Version < 0 {
				tail.Version = int64(raw.Revision)
			}
			if raw.Position <= after {
				return tail, nil
			}
			env, err := m.s.registry.Decode(raw)
			if err != nil {
				return tail, fmt.Errorf("read %s: %w", stream, err)
			}
			tail.Events = append(tail.Events, env)
		}
		if len(evs) < walletReadPage || evs[len(evs)-1].Revision == 0 {
			return tail, nil
		}
		from = evs[len(evs)-1].Revision - 1
	}
}

// chargeWallet charges the reply fee on the owner's wallet stream, or finds
// the charge a stopped drive already made, and returns the delivery's record
// of it. A balance that cannot pay is domain.ErrInsufficientBalance.
func (m *DeliveryManager) chargeWallet(ctx context.Context, d domain.Delivery, cc Context) (domain.DeliveryCharged, error) {
	owner := d.Reply.OwnerID
	stream := domain.WalletStream(owner)
	charge := domain.ChargeApplied{
		ChargeID: domain.ReplyChargeID(d.ActionID), OwnerID: owner, AmountMicroUSD: m.opts.FeeMicroUSD,
		Reason: domain.ChargeReplyDelivery, ThreadID: d.Reply.ThreadID, MessageID: d.Reply.MessageID, ActionID: d.ActionID,
	}
	charged := func(c domain.ChargeApplied, at uint64) domain.DeliveryCharged {
		return domain.DeliveryCharged{ActionID: d.ActionID, ChargeID: c.ChargeID, OwnerID: c.OwnerID, AmountMicroUSD: c.AmountMicroUSD, WalletPosition: at}
	}
	for attempt := 0; attempt < m.s.MaxAttempts; attempt++ {
		balance, at, err := m.balances.ProjectedBalance(ctx, owner)
		if err != nil {
			return domain.DeliveryCharged{}, err
		}
		// A charge of this action is younger than the delivery's first event.
		tail, err := m.walletTail(ctx, owner, min(at, d.FirstPosition))
		if err != nil {
			return domain.DeliveryCharged{}, err
		}
		if c, pos, found := tail.FindCharge(charge.ChargeID); found {
			return charged(c, pos), nil
		}
		if err := domain.DecideReplyCharge(tail, balance, at, charge); err != nil {
			return domain.DeliveryCharged{}, err
		}
		ev, err := m.s.encode(cc, domain.EventUUID(stream, charge.ChargeID), charge)
		if err != nil {
			return domain.DeliveryCharged{}, err
		}
		res, err := m.s.log.Append(ctx, stream, domain.ExpectedFromVersion(tail.Version), ev)
		if errors.Is(err, domain.ErrWrongExpectedRevision) {
			if err := m.s.backoff(ctx, attempt); err != nil {
				return domain.DeliveryCharged{}, err
			}
			continue
		}
		if err != nil {
			return domain.DeliveryCharged{}, err
		}
		return charged(charge, res.Position), nil
	}
	return domain.DeliveryCharged{}, domain.ErrConcurrencyExhausted
}

// findWalletRefund looks for a refund of the delivery's wallet charge.
func (m *DeliveryManager) findWalletRefund(ctx context.Context, d domain.Delivery) (domain.DeliveryRefunded, bool, error) {
	tail, err := m.walletTail(ctx, d.Charge.OwnerID, d.ChargePosition)
	if err != nil {
		return domain.DeliveryRefunded{}, false, err
	}
	r, pos, found := tail.FindRefund(d.Charge.ChargeID)
	return refundedAt(d, r, pos), found, nil
}

// refundWallet refunds the delivery's wallet charge on the wallet stream (or
// finds the refund already there) and returns the delivery's record of it.
func (m *DeliveryManager) refundWallet(ctx context.Context, d domain.Delivery, cc Context, code string) (domain.DeliveryRefunded, error) {
	stream := domain.WalletStream(d.Charge.OwnerID)
	refund := domain.RefundFor(d, code)
	for attempt := 0; attempt < m.s.MaxAttempts; attempt++ {
		tail, err := m.walletTail(ctx, d.Charge.OwnerID, d.ChargePosition)
		if err != nil {
			return domain.DeliveryRefunded{}, err
		}
		if r, pos, found := tail.FindRefund(d.Charge.ChargeID); found {
			return refundedAt(d, r, pos), nil
		}
		ev, err := m.s.encode(cc, domain.EventUUID(stream, refund.RefundID), refund)
		if err != nil {
			return domain.DeliveryRefunded{}, err
		}
		res, err := m.s.log.Append(ctx, stream, domain.ExpectedFromVersion(tail.Version), ev)
		if errors.Is(err, domain.ErrWrongExpectedRevision) {
			if err := m.s.backoff(ctx, attempt); err != nil {
				return domain.DeliveryRefunded{}, err
			}
			continue
		}
		if err != nil {
			return domain.DeliveryRefunded{}, err
		}
		return refundedAt(d, refund, res.Position), nil
	}
	return domain.DeliveryRefunded{}, domain.ErrConcurrencyExhausted
}

func refundedAt(d domain.Delivery, r domain.RefundApplied, at uint64) domain.DeliveryRefunded {
	return domain.DeliveryRefunded{ActionID: d.ActionID, RefundID: r.RefundID, ChargeID: r.ChargeID,
		AmountMicroUSD: r.AmountMicroUSD, Reason: r.Reason, WalletPosition: at}
}

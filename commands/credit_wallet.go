package commands

import (
	"context"

	"github.com/socialops/socialops/domain"
)

// CreditWallet adds money to an owner's wallet.
type CreditWallet struct {
	OwnerID        string
	AmountMicroUSD int64
	Note           string
	Context        Context
}

// CreditResult names the credit and where it landed.
type CreditResult struct {
	CreditID string
	Position uint64
}

// CreditWallet appends a WalletCredited event to the owner's wallet stream.
func (s *Service) CreditWallet(ctx context.Context, cmd CreditWallet) (CreditResult, error) {
	if cmd.OwnerID == "" {
		return CreditResult{}, domain.Errorf(domain.ErrMissingField, "owner is required")
	}
	if cmd.AmountMicroUSD <= 0 || cmd.AmountMicroUSD > domain.MaxCreditMicroUSD {
		return CreditResult{}, domain.Errorf(domain.ErrInvalidField, "amount must be between 1 and %d micro-USD", domain.MaxCreditMicroUSD)
	}
	creditID := domain.RandomID(domain.PrefixCredit, s.random)
	cc := cmd.Context
	cc.OwnerID = cmd.OwnerID
	ev, err := s.encode(cc, domain.RandomUUID(s.random), domain.WalletCredited{
		CreditID:       creditID,
		OwnerID:        cmd.OwnerID,
		AmountMicroUSD: cmd.AmountMicroUSD,
		Note:           cmd.Note,
	})
	if err != nil {
		return CreditResult{}, err
	}
	res, err := s.log.Append(ctx, domain.WalletStream(cmd.OwnerID), domain.AnyRevision(), ev)
	if err != nil {
		return CreditResult{}, err
	}
	return CreditResult{CreditID: creditID, Position: res.Position}, nil
}

package deliveryworker

import (
	"context"
	"fmt"
	"time"

	"github.com/socialops/socialops/projections"
)

// ReadModels answers the process manager's lookups from the read models:
// finding the channel of a chat and the projected balance. When a channel
// lookup misses, it waits (bounded) until the projector has caught up with
// the log head and looks again, so a channel bound just before a reply is seen.
type ReadModels struct {
	Q projections.Querier
	// Head returns the event log's head position.
	Head func(ctx context.Context) (uint64, error)
	// CatchUp bounds the wait (default 2 s); after it the lookup runs anyway.
	CatchUp time.Duration
}

func (r ReadModels) catchUp(ctx context.Context, projector string) {
	if r.Head == nil {
		return
	}
	head, err := r.Head(ctx)
	if err != nil {
		return
	}
	wait := r.CatchUp
	if wait <= 0 {
		wait = 2 * time.Second
	}
	_, _ = projections.WaitForPosition(ctx, r.Q, []string{projector}, head, wait)
}

// FindChannel implements commands.ChannelFinder. Only a miss waits for the
// channels projector, so the common case costs one query.
func (r ReadModels) FindChannel(ctx context.Context, instanceID, provider, chatID string) (string, bool, error) {
	id, found, err := projections.FindChannel(ctx, r.Q, instanceID, provider, chatID)
	if err != nil || found {
		return id, found, err
	}
	r.catchUp(ctx, projections.ChannelsProjector{}.Name())
	return projections.FindChannel(ctx, r.Q, instanceID, provider, chatID)
}

// ProjectedBalance implements commands.BalanceReader: the owner's balance in
// the wallet read model and the wallet projector's checkpoint, read in one
// statement (one snapshot; the projector writes both in one transaction), so
// the balance counts exactly the events up to that position. It does not wait
// for the projector: the delivery reads the wallet events after the
// checkpoint from the stream itself.
func (r ReadModels) ProjectedBalance(ctx context.Context, ownerID string) (int64, uint64, error) {
	var balance, at int64
	err := r.Q.QueryRow(ctx, `SELECT
			coalesce((SELECT balance_micro_usd FROM wallet_balances WHERE owner_id = $1), 0),
			coalesce((SELECT position FROM projection_checkpoints WHERE projector = $2), 0)`,
		ownerID, projections.WalletProjector{}.Name()).Scan(&balance, &at)
	if err != nil {
		return 0, 0, fmt.Errorf("read projected balance: %w", err)
	}
	return balance, uint64(at), nil
}

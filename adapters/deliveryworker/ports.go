package deliveryworker

import (
	"context"
	"time"

	"github.com/socialops/socialops/projections"
)

// ReadModels answers the process manager's lookups from the read models:
// finding the channel of a chat and the projected balance. When a lookup
// misses, it waits (bounded) until the projector has caught up with the log
// head and looks again, so a channel bound or a credit made just before a
// reply is seen.
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

// Balance implements commands.BalanceReader. Only a balance below need waits
// for the wallet projector, so a credit made just before is not missed.
func (r ReadModels) Balance(ctx context.Context, ownerID string, need int64) (int64, error) {
	b, err := projections.Balance(ctx, r.Q, ownerID)
	if err != nil || b >= need {
		return b, err
	}
	r.catchUp(ctx, projections.WalletProjector{}.Name())
	return projections.Balance(ctx, r.Q, ownerID)
}

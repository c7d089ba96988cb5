package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/postgres/pgtest"
	"github.com/socialops/socialops/domain"
)

// An append whose request reaches the queue after Close drained it (the send
// and the drain race) returns ErrClosed instead of waiting forever.
func TestAppendQueuedAfterCloseDrainReturns(t *testing.T) {
	s := New(pgtest.NewPool(t), nil)
	require.NoError(t, s.Close())

	ev := domain.ProposedEvent{ID: domain.RandomUUID(domain.CryptoRandom), Type: "Late", Data: []byte(`{}`), Metadata: []byte(`{}`)}
	req, err := newAppendRequest(context.Background(), []domain.StreamAppend{{Stream: "late-1", Expected: domain.AnyRevision(), Events: []domain.ProposedEvent{ev}}})
	require.NoError(t, err)
	s.requests <- req // where the losing side of the race leaves it

	done := make(chan error, 1)
	go func() {
		_, err := s.await(context.Background(), req)
		done <- err
	}()
	select {
	case err := <-done:
		require.ErrorIs(t, err, ErrClosed)
	case <-time.After(5 * time.Second):
		t.Fatal("an append queued after Close is still waiting")
	}
}

package eventstoretest

// The contract for the append size limit and the store's identity.

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/eventstore"
	"github.com/socialops/socialops/domain"
)

// testAppendOverSizeLimit: an append larger than domain.MaxAppendBytes (the
// KurrentDB server's default MaxAppendSize) is refused with
// domain.ErrAppendTooLarge on every backend and stores nothing; one just
// under it is stored.
func testAppendOverSizeLimit(t *testing.T, s eventstore.Store) {
	c := ctx(t)
	p := prefix(t)
	sized := func(total int) []domain.ProposedEvent {
		// Two events, so the limit is on the append and not on one event.
		var out []domain.ProposedEvent
		for i := 0; i < 2; i++ {
			ev := event("Sized", map[string]string{"pad": ""})
			pad := total/2 - domain.AppendSize([]domain.ProposedEvent{ev})
			ev.Data = []byte(`{"pad":"` + strings.Repeat("a", pad) + `"}`)
			out = append(out, ev)
		}
		return out
	}
	over := sized(domain.MaxAppendBytes + 64)
	require.Greater(t, domain.AppendSize(over), domain.MaxAppendBytes)
	_, err := s.Append(c, p+"big", domain.NoStream(), over...)
	require.ErrorIs(t, err, domain.ErrAppendTooLarge)
	_, err = s.ReadStream(c, p+"big", domain.Forwards, domain.StreamStart, 10)
	require.ErrorIs(t, err, domain.ErrStreamNotFound, "a refused append stores nothing")

	under := sized(domain.MaxAppendBytes - 64)
	require.LessOrEqual(t, domain.AppendSize(under), domain.MaxAppendBytes)
	_, err = s.Append(c, p+"fits", domain.NoStream(), under...)
	require.NoError(t, err)
	got, err := s.ReadStream(c, p+"fits", domain.Forwards, domain.StreamStart, 10)
	require.NoError(t, err)
	require.Len(t, got, 2)
}

// The store's identity is made once and kept: every call answers the same id,
// and keeping it adds nothing a reader of the log would see.
func testIdentityIsStableAndHidden(t *testing.T, s eventstore.Store) {
	ctx := context.Background()
	head, err := s.HeadPosition(ctx)
	require.NoError(t, err)
	var wg sync.WaitGroup
	ids := make([]string, 4)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, err := s.Identity(ctx)
			assert.NoError(t, err)
			ids[i] = id
		}()
	}
	wg.Wait()
	require.NotEmpty(t, ids[0])
	for _, id := range ids {
		assert.Equal(t, ids[0], id, "concurrent first calls agree")
	}
	again, err := s.Identity(ctx)
	require.NoError(t, err)
	assert.Equal(t, ids[0], again)
	// Other writers may share a real KurrentDB: look for the identity only.
	evs, err := s.ReadAll(ctx, head, 1000)
	require.NoError(t, err)
	for _, e := range evs {
		assert.NotContains(t, e.StreamID+e.Type+string(e.Data), ids[0], "the identity is not an event of the log")
	}
}

package kurrentdb

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/domain"
)

// The identity lives in the server: a second process sees the first one's,
// another server has its own, and SubscribeAll never delivers it.
func TestIdentityIsKeptInTheServer(t *testing.T) {
	ctx := context.Background()
	d := startDouble(t)
	first := openStore(t, d.url(), testLogger(t).logger)
	id, err := first.Identity(ctx)
	require.NoError(t, err)
	assert.Regexp(t, `^kurrentdb-[0-9a-f-]{36}$`, id)

	second := openStore(t, d.url(), testLogger(t).logger)
	again, err := second.Identity(ctx)
	require.NoError(t, err)
	assert.Equal(t, id, again, "another process, same server")

	other, err := openStore(t, startDouble(t).url(), testLogger(t).logger).Identity(ctx)
	require.NoError(t, err)
	assert.NotEqual(t, id, other, "another server")

	stored, err := first.ReadStream(ctx, IdentityStream, domain.Forwards, 0, 10)
	require.NoError(t, err)
	require.Len(t, stored, 1, "appended once")

	res, err := first.Append(ctx, "thread-x", domain.NoStream(), domain.ProposedEvent{
		ID: domain.RandomUUID(domain.CryptoRandom), Type: "ThreadOpened", Data: []byte(`{}`), Metadata: []byte(`{}`)})
	require.NoError(t, err)
	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var seen []string
	err = first.SubscribeAll(subCtx, 0, func(_ context.Context, e domain.RecordedEvent) error {
		seen = append(seen, e.StreamID)
		if e.Position >= res.Position {
			cancel()
		}
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"thread-x"}, seen)
}

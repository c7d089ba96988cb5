package commands_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	pgstore "github.com/socialops/socialops/adapters/eventstore/postgres"
	"github.com/socialops/socialops/adapters/postgres"
	"github.com/socialops/socialops/adapters/postgres/pgtest"
	"github.com/socialops/socialops/commands"
	"github.com/socialops/socialops/domain"
)

// A long thread is read from its snapshot on, and deduplication still sees
// every message before the snapshot; a broken snapshot is ignored.
func TestLongThreadsUseSnapshots(t *testing.T) {
	pool := pgtest.NewPool(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := pgstore.New(pool, logger)
	t.Cleanup(func() { _ = store.Close() })
	svc := commands.NewService(store, domain.NewEventRegistry(), commands.Options{Logger: logger, Snapshots: postgres.NewSnapshots(pool)})
	ctx := context.Background()
	inst := domain.Instance{ID: "soinst_1", Alias: "support", OwnerID: "o"}
	ingest := func(i int) commands.IngestResult {
		res, err := svc.IngestWebhook(ctx, commands.IngestWebhook{Instance: inst, Message: domain.InboundMessage{
			Provider: "telegram", ProviderEventID: fmt.Sprint(i), ExternalThreadID: "-100", Subject: "chat",
			MessageType: "text", Text: fmt.Sprint("message ", i)}})
		require.NoError(t, err)
		return res
	}
	first := map[int]commands.IngestResult{}
	for i := 0; i < 350; i++ {
		first[i] = ingest(i)
		assert.False(t, first[i].Duplicate)
	}
	var version int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT version FROM aggregate_snapshots WHERE stream_name = $1`, domain.ThreadStream(first[0].ThreadID)).Scan(&version))
	assert.Greater(t, version, int64(400), "a snapshot was taken as the thread grew")

	for _, i := range []int{0, 7, 200, 349} {
		again := ingest(i)
		assert.True(t, again.Duplicate, "message %d is known through the snapshot", i)
		assert.Equal(t, first[i].MessageID, again.MessageID)
		assert.Equal(t, first[i].Position, again.Position)
	}

	_, err := pool.Exec(ctx, `UPDATE aggregate_snapshots SET state = 'not json'`)
	require.NoError(t, err)
	assert.True(t, ingest(3).Duplicate, "a broken snapshot falls back to the whole stream")
	assert.False(t, ingest(1000).Duplicate)

	// Thread commands on the long thread see its state too.
	s := "resolved"
	res, err := svc.UpdateThread(ctx, commands.UpdateThread{InstanceID: inst.ID, ThreadID: first[0].ThreadID, Changes: domain.ThreadChanges{Status: &s}})
	require.NoError(t, err)
	assert.Equal(t, "resolved", res.Thread.Status)
	require.Len(t, res.Events, 2, "the status change and the session's close")
	assert.IsType(t, domain.SessionClosed{}, res.Events[1])
}

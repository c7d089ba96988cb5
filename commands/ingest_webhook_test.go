package commands_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	pgstore "github.com/socialops/socialops/adapters/eventstore/postgres"
	"github.com/socialops/socialops/adapters/postgres/pgtest"
	"github.com/socialops/socialops/commands"
	"github.com/socialops/socialops/domain"
)

// crashingLog is the event store of a process that dies right before its
// next append to a thread: that append never happens. It has no AppendMulti,
// like KurrentDB, so ingestion takes the path of two appends.
type crashingLog struct {
	store   *pgstore.Store
	crashes atomic.Int32 // thread appends still to fail
}

func (l *crashingLog) ReadStream(ctx context.Context, stream string, direction domain.ReadDirection, from uint64, count uint64) ([]domain.RecordedEvent, error) {
	return l.store.ReadStream(ctx, stream, direction, from, count)
}

var errCrashed = errors.New("the process died")

func (l *crashingLog) Append(ctx context.Context, stream string, expected domain.ExpectedRevision, events ...domain.ProposedEvent) (domain.AppendResult, error) {
	if strings.HasPrefix(stream, "thread-") && l.crashes.Add(-1) >= 0 {
		return domain.AppendResult{}, errCrashed
	}
	return l.store.Append(ctx, stream, expected, events...)
}

// A process that dies after claiming a provider event and before appending
// it to its thread loses nothing: the provider's retry of the same delivery
// stores the message (once), and a copy naming another thread in between is
// answered as a duplicate of the claimed one and stores nothing. That holds
// for the retries of a process with two appends (a log without AppendMulti)
// and of one with the atomic append (the claim is then stored already).
func TestIngestCrashBetweenClaimAndThreadAppendLosesNothing(t *testing.T) {
	for _, atomicRetry := range []bool{false, true} {
		t.Run(fmt.Sprintf("atomic_retry=%v", atomicRetry), func(t *testing.T) { testIngestCrash(t, atomicRetry) })
	}
}

func testIngestCrash(t *testing.T, atomicRetry bool) {
	pool := pgtest.NewPool(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := pgstore.New(pool, logger)
	t.Cleanup(func() { _ = store.Close() })
	log := &crashingLog{store: store}
	reg := domain.NewEventRegistry()
	svc := commands.NewService(log, reg, commands.Options{Logger: logger})
	ctx := context.Background()
	inst := domain.Instance{ID: "soinst_1", Alias: "support", OwnerID: "o"}
	deliver := func(thread string) (commands.IngestResult, error) {
		return svc.IngestWebhook(ctx, commands.IngestWebhook{Instance: inst, Message: domain.InboundMessage{
			Provider: domain.ProviderGenericWebhook, ProviderEventID: "evt-1", ExternalThreadID: thread, Subject: "s",
			MessageType: domain.MessageText, Text: "hello from " + thread}, RawPayload: []byte(`{}`)})
	}
	messages := func() []domain.InboundMessageReceived {
		raw, err := store.ReadAll(ctx, 0, 1000)
		require.NoError(t, err)
		var out []domain.InboundMessageReceived
		for _, r := range raw {
			env, err := reg.Decode(r)
			require.NoError(t, err)
			if m, ok := env.Payload.(domain.InboundMessageReceived); ok {
				out = append(out, m)
			}
		}
		return out
	}

	log.crashes.Store(1)
	_, err := deliver("A")
	require.ErrorIs(t, err, errCrashed)
	assert.Empty(t, messages())
	if atomicRetry {
		svc = commands.NewService(store, reg, commands.Options{Logger: logger})
	}

	head, err := store.HeadPosition(ctx)
	require.NoError(t, err)
	other, err := deliver("B")
	require.NoError(t, err)
	assert.True(t, other.Duplicate, "the event belongs to the thread that claimed it")
	assert.Equal(t, domain.InboundThreadID(inst.ID, domain.ProviderGenericWebhook, "A"), other.ThreadID)
	after, err := store.HeadPosition(ctx)
	require.NoError(t, err)
	assert.Equal(t, head, after, "nothing stored for the copy on B")

	retry, err := deliver("A")
	require.NoError(t, err)
	assert.False(t, retry.Duplicate, "the retry stores the message")
	assert.Equal(t, other.ThreadID, retry.ThreadID)
	assert.Equal(t, other.MessageID, retry.MessageID)
	got := messages()
	require.Len(t, got, 1)
	assert.Equal(t, "hello from A", got[0].Text)

	again, err := deliver("A")
	require.NoError(t, err)
	assert.True(t, again.Duplicate)
	assert.Equal(t, retry.Position, again.Position)
	assert.Len(t, messages(), 1, "stored once")
}

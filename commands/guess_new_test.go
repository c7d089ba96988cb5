package commands_test

import (
	"context"
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

// watchedLog is the Postgres store, counting the thread reads and the thread
// appends that stored nothing (failed, or a repeat).
type watchedLog struct {
	*pgstore.Store
	reads, wasted atomic.Int32
}

func (l *watchedLog) ReadStream(ctx context.Context, stream string, direction domain.ReadDirection, from uint64, count uint64) ([]domain.RecordedEvent, error) {
	if strings.HasPrefix(stream, domain.ThreadStream("")) {
		l.reads.Add(1)
	}
	return l.Store.ReadStream(ctx, stream, direction, from, count)
}

func (l *watchedLog) AppendMulti(ctx context.Context, parts ...domain.StreamAppend) ([]domain.AppendResult, error) {
	res, err := l.Store.AppendMulti(ctx, parts...)
	if err != nil || res[len(res)-1].Repeated {
		l.wasted.Add(1)
	}
	return res, err
}

// A webhook for a thread the process has not cached decides on a new thread
// without reading the log while the threads it misses are mostly new; a
// thread that exists after all is read and decided again (a message on it is
// stored once, at its place, and a redelivery is answered as a duplicate),
// and a run of stored threads turns the guess off.
func TestIngestGuessesNewThreadsWhileMostMissesAreNew(t *testing.T) {
	pool := pgtest.NewPool(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := pgstore.New(pool, logger)
	t.Cleanup(func() { _ = store.Close() })
	reg := domain.NewEventRegistry()
	ctx := context.Background()
	inst := domain.Instance{ID: "soinst_1", Alias: "support", OwnerID: "o"}
	deliver := func(svc *commands.Service, thread, event string) commands.IngestResult {
		t.Helper()
		res, err := svc.IngestWebhook(ctx, commands.IngestWebhook{Instance: inst, Message: domain.InboundMessage{
			Provider: domain.ProviderGenericWebhook, ProviderEventID: event, ExternalThreadID: thread, Subject: "s",
			MessageType: domain.MessageText, Text: "text of " + event}, RawPayload: []byte(`{}`)})
		require.NoError(t, err)
		return res
	}
	service := func() (*commands.Service, *watchedLog) {
		log := &watchedLog{Store: store}
		return commands.NewService(log, reg, commands.Options{Logger: logger}), log
	}
	// A process that has seen new threads only.
	newThreads := func(svc *commands.Service, prefix string, n int) {
		for i := range n {
			deliver(svc, fmt.Sprint(prefix, i), fmt.Sprint(prefix, "-evt-", i))
		}
	}

	// The first miss reads (the trend starts at zero); the nine after it do not.
	first, firstLog := service()
	newThreads(first, "a", 10)
	assert.Equal(t, int32(1), firstLog.reads.Load(), "only the first new thread was read")
	assert.Zero(t, firstLog.wasted.Load())
	opener := deliver(first, "x", "x-1")
	second := deliver(first, "x", "x-2")

	// Another process, guessing: a message on the stored thread x.
	other, otherLog := service()
	newThreads(other, "b", 3)
	reads := otherLog.reads.Load()
	third := deliver(other, "x", "x-3")
	assert.False(t, third.Duplicate)
	assert.Equal(t, opener.ThreadID, third.ThreadID)
	assert.Equal(t, int32(1), otherLog.wasted.Load(), "one append on a guess that was wrong")
	assert.Equal(t, reads+1, otherLog.reads.Load(), "then the thread was read")

	// Redeliveries to a guessing process: the opening delivery (its events are
	// stored where a new thread's would go: a repeat) and a later one.
	late, lateLog := service()
	newThreads(late, "c", 3)
	again := deliver(late, "x", "x-1")
	assert.True(t, again.Duplicate, "the opening delivery again is a duplicate")
	assert.Equal(t, opener.MessageID, again.MessageID)
	assert.Equal(t, opener.Position, again.Position)
	late2, _ := service()
	newThreads(late2, "d", 3)
	again2 := deliver(late2, "x", "x-2")
	assert.True(t, again2.Duplicate)
	assert.Equal(t, second.MessageID, again2.MessageID)
	assert.Positive(t, lateLog.wasted.Load())

	// Thread x holds one opening and its three messages, in order.
	raw, err := store.ReadStream(ctx, domain.ThreadStream(opener.ThreadID), domain.Forwards, domain.StreamStart, 100)
	require.NoError(t, err)
	var opened int
	var texts []string
	for _, r := range raw {
		env, err := reg.Decode(r)
		require.NoError(t, err)
		switch p := env.Payload.(type) {
		case domain.ThreadOpened:
			opened++
		case domain.InboundMessageReceived:
			texts = append(texts, p.Text)
		}
	}
	assert.Equal(t, 1, opened)
	assert.Equal(t, []string{"text of x-1", "text of x-2", "text of x-3"}, texts)

	// Mostly stored threads: the guess turns off within a few misses.
	for i := range 40 {
		deliver(first, fmt.Sprint("old", i), fmt.Sprint("old-evt-", i))
	}
	restarted, restartedLog := service()
	newThreads(restarted, "e", 5)
	for i := range 40 {
		deliver(restarted, fmt.Sprint("old", i), fmt.Sprint("old-evt-", i, "-2"))
	}
	assert.LessOrEqual(t, restartedLog.wasted.Load(), int32(6), "wrong guesses stop once misses are mostly stored threads")
}

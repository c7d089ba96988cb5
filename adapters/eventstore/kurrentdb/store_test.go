package kurrentdb

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/socialops/socialops/adapters/eventstore"
	"github.com/socialops/socialops/adapters/eventstore/eventstoretest"
	"github.com/socialops/socialops/domain"
)

func TestContractAgainstDouble(t *testing.T) {
	d := startDouble(t)
	eventstoretest.Run(t, func(t *testing.T) eventstore.Store {
		return openStore(t, d.url(), testLogger(t).logger)
	})
}

func TestContractAgainstKurrentDB(t *testing.T) {
	url := os.Getenv("SOCIALOPS_TEST_ESDB_URL")
	if url == "" {
		t.Skip("real-server run skipped: SOCIALOPS_TEST_ESDB_URL is unset (set it to e.g. esdb://localhost:2113?tls=false)")
	}
	eventstoretest.Run(t, func(t *testing.T) eventstore.Store {
		return openStore(t, url, testLogger(t).logger)
	})
}

func TestWrongExpectedRevisionIsTheDomainError(t *testing.T) {
	s := openStore(t, startDouble(t).url(), testLogger(t).logger)
	ctx := testContext(t)
	stream := "wev-" + uuid.NewString()

	_, err := s.Append(ctx, stream, domain.ExactRevision(0), numbered(0))
	var wrong *domain.WrongExpectedRevisionError
	require.True(t, errors.As(err, &wrong), "exact revision on a missing stream: %v", err)
	assert.Equal(t, stream, wrong.Stream)
	assert.Equal(t, domain.ExactRevision(0), wrong.Expected)
	assert.Equal(t, int64(-1), wrong.Actual, "no stream")

	_, err = s.Append(ctx, stream, domain.NoStream(), numbered(0), numbered(1), numbered(2))
	require.NoError(t, err)

	_, err = s.Append(ctx, stream, domain.NoStream(), numbered(3))
	require.ErrorIs(t, err, domain.ErrWrongExpectedRevision)
	assert.NotErrorIs(t, err, domain.ErrStreamNotFound)
	require.True(t, errors.As(err, &wrong))
	assert.Equal(t, domain.NoStream(), wrong.Expected)
	assert.Equal(t, int64(2), wrong.Actual)

	_, err = s.Append(ctx, stream, domain.ExactRevision(7), numbered(3))
	require.True(t, errors.As(err, &wrong))
	assert.Equal(t, int64(2), wrong.Actual)

	// Callers switch on domain errors only; the client's type stays inside the adapter.
	var esErr *esdb.Error
	assert.False(t, errors.As(err, &esErr))
}

func TestMissingStreamIsStreamNotFound(t *testing.T) {
	s := openStore(t, startDouble(t).url(), testLogger(t).logger)
	stream := "missing-" + uuid.NewString()
	for _, dir := range []domain.ReadDirection{domain.Forwards, domain.Backwards} {
		_, err := s.ReadStream(testContext(t), stream, dir, domain.StreamStart, 10)
		var notFound *domain.StreamNotFoundError
		require.True(t, errors.As(err, &notFound), "direction %d: %v", dir, err)
		assert.Equal(t, stream, notFound.Stream)
		assert.ErrorIs(t, err, domain.ErrStreamNotFound)
	}
}

func TestTombstonedStreamIsStreamDeleted(t *testing.T) {
	d := startDouble(t)
	s := openStore(t, d.url(), testLogger(t).logger)
	ctx := testContext(t)
	stream := "deleted-" + uuid.NewString()
	_, err := s.Append(ctx, stream, domain.NoStream(), numbered(0))
	require.NoError(t, err)

	raw := rawClient(t, d.url())
	_, err = raw.TombstoneStream(ctx, stream, esdb.TombstoneStreamOptions{ExpectedRevision: esdb.Any{}})
	require.NoError(t, err)

	_, err = s.ReadStream(ctx, stream, domain.Forwards, domain.StreamStart, 10)
	assert.ErrorIs(t, err, domain.ErrStreamDeleted)
	assert.NotErrorIs(t, err, domain.ErrStreamNotFound)
	_, err = s.Append(ctx, stream, domain.AnyRevision(), numbered(1))
	assert.ErrorIs(t, err, domain.ErrStreamDeleted)
	assert.NotErrorIs(t, err, domain.ErrWrongExpectedRevision)
}

func TestAppendRefusesIDsThatAreNotUUIDs(t *testing.T) {
	s := openStore(t, startDouble(t).url(), testLogger(t).logger)
	ev := numbered(0)
	ev.ID = "msg-42"
	_, err := s.Append(testContext(t), "ids-"+uuid.NewString(), domain.AnyRevision(), ev)
	require.Error(t, err, "the client would swap a bad id for a random one and lose idempotency")
}

// A server configured with a MaxAppendSize below the default refuses an
// append the adapter let through: that is the same payload_too_large as the
// adapter's own check, not an internal error.
func TestServerAppendSizeLimitIsPayloadTooLarge(t *testing.T) {
	d := startDouble(t)
	d.mu.Lock()
	d.maxAppendSize = 64 << 10
	d.mu.Unlock()
	s := openStore(t, d.url(), testLogger(t).logger)
	ev := numbered(0)
	ev.Data = []byte(`{"text":"` + strings.Repeat("x", 100<<10) + `"}`)
	stream := "big-" + uuid.NewString()
	_, err := s.Append(testContext(t), stream, domain.NoStream(), ev)
	require.ErrorIs(t, err, domain.ErrAppendTooLarge)
	assert.NotContains(t, err.Error(), stream, "the error may reach a client: no stream id in it")
	_, err = s.ReadStream(testContext(t), stream, domain.Forwards, domain.StreamStart, 1)
	assert.ErrorIs(t, err, domain.ErrStreamNotFound, "nothing stored")
}

func TestSystemEventsAreHidden(t *testing.T) {
	d := startDouble(t)
	s := openStore(t, d.url(), testLogger(t).logger)
	ctx := testContext(t)
	stream := "sys-" + uuid.NewString()
	res, err := s.Append(ctx, stream, domain.NoStream(), numbered(0), numbered(1))
	require.NoError(t, err)
	// SetStreamMetadata writes a $metadata event to $$<stream>, after ours.
	_, err = rawClient(t, d.url()).SetStreamMetadata(ctx, stream, esdb.AppendToStreamOptions{}, esdb.StreamMetadata{})
	require.NoError(t, err)

	all, err := s.ReadAll(ctx, 0, 1000)
	require.NoError(t, err)
	require.Len(t, all, 2, "the seeded $epoch-information and the $metadata event are hidden")
	for _, e := range all {
		assert.False(t, strings.HasPrefix(e.Type, "$"), "system event %s in ReadAll", e.Type)
	}
	limited, err := s.ReadAll(ctx, 0, 1)
	require.NoError(t, err)
	require.Len(t, limited, 1)
	assert.Equal(t, all[0].ID, limited[0].ID, "the hidden head of the log does not eat the count")

	head, err := s.HeadPosition(ctx)
	require.NoError(t, err)
	assert.Equal(t, res.Position, head, "the head is the last event ReadAll shows")

	c := newCollector()
	subCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.SubscribeAll(subCtx, 0, c.handle) }()
	c.waitFor(t, 2)
	_, err = s.Append(ctx, stream, domain.ExactRevision(1), numbered(2))
	require.NoError(t, err)
	c.waitFor(t, 3)
	time.Sleep(100 * time.Millisecond)
	stop()
	require.NoError(t, <-done)
	for _, e := range c.events() {
		assert.Equal(t, stream, e.StreamID, "only our events, no system ones")
	}
	assert.Len(t, c.events(), 3)
}

// TestSubscriptionResumesAfterDrop drops the subscription on the server side
// three times, once while the handler is still working through the backlog and
// twice while appends go on, and checks that every event arrives exactly once,
// in order, and that each drop is logged.
func TestSubscriptionResumesAfterDrop(t *testing.T) {
	d := startDouble(t)
	logs := testLogger(t)
	s := openStore(t, d.url(), logs.logger)
	ctx := testContext(t)
	stream := "drop-" + uuid.NewString()
	head, err := s.HeadPosition(ctx)
	require.NoError(t, err)

	const backlog, total = 100, 300
	first := make([]domain.ProposedEvent, backlog)
	for i := range first {
		first[i] = numbered(i)
	}
	_, err = s.Append(ctx, stream, domain.NoStream(), first...)
	require.NoError(t, err)

	c := newCollector()
	reached, gate := make(chan struct{}), make(chan struct{})
	handle := func(ctx context.Context, e domain.RecordedEvent) error {
		if n := c.add(e); n == 10 {
			close(reached)
			select {
			case <-gate:
			case <-ctx.Done():
			}
		}
		return nil
	}
	subCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.SubscribeAll(subCtx, head, handle) }()

	drop := func() {
		before := d.subscriptionsStarted()
		d.dropSubscriptions()
		require.Eventually(t, func() bool { return d.subscriptionsStarted() > before }, 10*time.Second, 5*time.Millisecond, "resubscribed")
	}
	<-reached
	before := d.subscriptionsStarted()
	d.dropSubscriptions()
	close(gate)
	require.Eventually(t, func() bool { return d.subscriptionsStarted() > before }, 10*time.Second, 5*time.Millisecond, "resubscribed")

	appended := make(chan error, 1)
	go func() {
		for i := backlog; i < total; i++ {
			if _, err := s.Append(ctx, stream, domain.ExactRevision(uint64(i-1)), numbered(i)); err != nil {
				appended <- err
				return
			}
		}
		appended <- nil
	}()
	c.waitFor(t, 150)
	drop()
	c.waitFor(t, 250)
	drop()
	require.NoError(t, <-appended)
	c.waitFor(t, total)
	time.Sleep(200 * time.Millisecond) // anything more would be a repeat
	stop()
	require.NoError(t, <-done)

	got := c.events()
	require.Len(t, got, total, "every event exactly once")
	for i, e := range got {
		require.Equal(t, uint64(i), e.Revision, "in order, no gap, no repeat")
		if i > 0 {
			require.Greater(t, e.Position, got[i-1].Position)
		}
	}
	assert.GreaterOrEqual(t, strings.Count(logs.String(), "subscription dropped; resubscribing"), 3, "each drop is logged")
	assert.Contains(t, logs.String(), "after_position=")
}

func TestSubscribeAllEndsWhenStoreCloses(t *testing.T) {
	s := openStore(t, startDouble(t).url(), testLogger(t).logger)
	done := make(chan error, 1)
	go func() {
		done <- s.SubscribeAll(context.Background(), 0, func(context.Context, domain.RecordedEvent) error { return nil })
	}()
	time.Sleep(100 * time.Millisecond)
	require.NoError(t, s.Close())
	select {
	case err := <-done:
		assert.ErrorIs(t, err, ErrClosed)
	case <-time.After(10 * time.Second):
		t.Fatal("SubscribeAll still running after Close")
	}
	_, err := s.HeadPosition(testContext(t))
	assert.ErrorIs(t, err, ErrClosed)
}

// TestPingFollowsTheServer checks that Ping fails fast while the server is
// gone, and that the store works again once it is back: after a failed
// discovery the v4.2.0 client closes itself for good, so the adapter must
// replace it.
func TestPingFollowsTheServer(t *testing.T) {
	d := startDouble(t)
	s := openStore(t, d.url(), testLogger(t).logger)
	ctx := testContext(t)
	require.NoError(t, s.Ping(ctx))

	d.stop()
	for i := 0; i < 3; i++ {
		start := time.Now()
		assert.Error(t, s.Ping(ctx), "server down")
		assert.Less(t, time.Since(start), pingTimeout+time.Second, "ping is bounded")
	}

	startDoubleAt(t, d.addr)
	require.Eventually(t, func() bool { return s.Ping(ctx) == nil }, 20*time.Second, 50*time.Millisecond, "ping recovers")
	_, err := s.Append(ctx, "back-"+uuid.NewString(), domain.NoStream(), numbered(0))
	require.NoError(t, err)
	head, err := s.HeadPosition(ctx)
	require.NoError(t, err)
	assert.NotZero(t, head)
}

func TestOpenFailsWhenNothingListens(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := lis.Addr().String()
	require.NoError(t, lis.Close())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = Open(ctx, "esdb://"+addr+"?tls=false", testLogger(t).logger)
	require.Error(t, err)
}

// TestDoubleSpeaksTheServerProtocol pins down, with a bare gRPC client, the
// message sequences the esdb client depends on and cannot show the adapter.
func TestDoubleSpeaksTheServerProtocol(t *testing.T) {
	d := startDouble(t)
	conn, err := grpc.NewClient(d.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	c := streams.NewStreamsClient(conn)
	ctx := testContext(t)
	name := "proto-" + uuid.NewString()
	ids := []uuid.UUID{uuid.New(), uuid.New()}

	appendRaw := func(expected *streams.AppendReq_Options) *streams.AppendResp {
		call, err := c.Append(ctx)
		require.NoError(t, err)
		expected.StreamIdentifier = &shared.StreamIdentifier{StreamName: []byte(name)}
		require.NoError(t, call.Send(&streams.AppendReq{Content: &streams.AppendReq_Options_{Options: expected}}))
		for _, id := range ids {
			require.NoError(t, call.Send(&streams.AppendReq{Content: &streams.AppendReq_ProposedMessage_{ProposedMessage: &streams.AppendReq_ProposedMessage{
				Id:       uuidToProto(id, false),
				Metadata: map[string]string{"type": "Tested", "content-type": "application/json"},
				Data:     []byte(`{}`),
			}}}))
		}
		resp, err := call.CloseAndRecv()
		require.NoError(t, err)
		return resp
	}
	ok := appendRaw(&streams.AppendReq_Options{ExpectedStreamRevision: &streams.AppendReq_Options_NoStream{NoStream: &shared.Empty{}}})
	require.NotNil(t, ok.GetSuccess())
	assert.Equal(t, uint64(1), ok.GetSuccess().GetCurrentRevision())
	pos := ok.GetSuccess().GetPosition()
	assert.Equal(t, pos.GetCommitPosition(), pos.GetPreparePosition())

	again := appendRaw(&streams.AppendReq_Options{ExpectedStreamRevision: &streams.AppendReq_Options_NoStream{NoStream: &shared.Empty{}}})
	assert.Equal(t, ok.GetSuccess().String(), again.GetSuccess().String(), "idempotent: same revision and position")

	ids = []uuid.UUID{uuid.New()}
	wrong := appendRaw(&streams.AppendReq_Options{ExpectedStreamRevision: &streams.AppendReq_Options_Revision{Revision: 5}}).GetWrongExpectedVersion()
	require.NotNil(t, wrong, "a conflict is a response body, not a status")
	assert.Equal(t, uint64(1), wrong.GetCurrentRevision())
	assert.Equal(t, uint64(5), wrong.GetExpectedRevision())
	assert.Equal(t, uint64(1), wrong.GetCurrentRevision_20_6_0())

	read := func(o *streams.ReadReq_Options) []*streams.ReadResp {
		o.UuidOption = &streams.ReadReq_Options_UUIDOption{Content: &streams.ReadReq_Options_UUIDOption_Structured{Structured: &shared.Empty{}}}
		call, err := c.Read(ctx, &streams.ReadReq{Options: o})
		require.NoError(t, err)
		var out []*streams.ReadResp
		for {
			msg, err := call.Recv()
			if errors.Is(err, io.EOF) {
				return out
			}
			require.NoError(t, err)
			out = append(out, msg)
		}
	}
	missing := read(&streams.ReadReq_Options{
		StreamOption: &streams.ReadReq_Options_Stream{Stream: &streams.ReadReq_Options_StreamOptions{
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte("nobody-" + uuid.NewString())},
			RevisionOption:   &streams.ReadReq_Options_StreamOptions_Start{Start: &shared.Empty{}},
		}},
		CountOption:  &streams.ReadReq_Options_Count{Count: 10},
		FilterOption: &streams.ReadReq_Options_NoFilter{NoFilter: &shared.Empty{}},
	})
	require.Len(t, missing, 1)
	require.NotNil(t, missing[0].GetStreamNotFound().GetStreamIdentifier(), "the client dereferences it")

	all := read(&streams.ReadReq_Options{
		StreamOption: &streams.ReadReq_Options_All{All: &streams.ReadReq_Options_AllOptions{AllOption: &streams.ReadReq_Options_AllOptions_Start{Start: &shared.Empty{}}}},
		CountOption:  &streams.ReadReq_Options_Count{Count: 100},
		FilterOption: &streams.ReadReq_Options_NoFilter{NoFilter: &shared.Empty{}},
	})
	require.Len(t, all, 3, "unfiltered $all includes the system event")
	for _, msg := range all {
		ev := msg.GetEvent().GetEvent()
		require.NotNil(t, ev, "finite reads send events only")
		for _, key := range []string{"created", "type", "content-type"} {
			assert.NotEmpty(t, ev.GetMetadata()[key], key)
		}
		assert.Equal(t, ev.GetCommitPosition(), ev.GetPreparePosition())
		assert.Equal(t, ev.GetCommitPosition(), msg.GetEvent().GetCommitPosition())
	}

	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	sub, err := c.Read(subCtx, &streams.ReadReq{Options: &streams.ReadReq_Options{
		StreamOption: &streams.ReadReq_Options_All{All: &streams.ReadReq_Options_AllOptions{AllOption: &streams.ReadReq_Options_AllOptions_Start{Start: &shared.Empty{}}}},
		CountOption:  &streams.ReadReq_Options_Subscription{Subscription: &streams.ReadReq_Options_SubscriptionOptions{}},
		FilterOption: &streams.ReadReq_Options_Filter{Filter: &streams.ReadReq_Options_FilterOptions{
			Filter:                       &streams.ReadReq_Options_FilterOptions_EventType{EventType: &streams.ReadReq_Options_FilterOptions_Expression{Regex: `^[^\$].*`}},
			Window:                       &streams.ReadReq_Options_FilterOptions_Max{Max: 32},
			CheckpointIntervalMultiplier: 1,
		}},
		UuidOption: &streams.ReadReq_Options_UUIDOption{Content: &streams.ReadReq_Options_UUIDOption_Structured{Structured: &shared.Empty{}}},
	}})
	require.NoError(t, err)
	var kinds []string
	for len(kinds) == 0 || kinds[len(kinds)-1] != "caught_up" {
		msg, err := sub.Recv()
		require.NoError(t, err)
		switch {
		case msg.GetConfirmation() != nil:
			kinds = append(kinds, "confirmation")
		case msg.GetEvent() != nil:
			kinds = append(kinds, "event")
			assert.Equal(t, name, string(msg.GetEvent().GetEvent().GetStreamIdentifier().GetStreamName()))
		case msg.GetCheckpoint() != nil:
			kinds = append(kinds, "checkpoint")
		case msg.GetCaughtUp() != nil:
			kinds = append(kinds, "caught_up")
		default:
			t.Fatalf("unexpected message %v", msg)
		}
	}
	assert.Equal(t, []string{"confirmation", "event", "event", "checkpoint", "caught_up"}, kinds)
}

// ---- helpers -------------------------------------------------------------------

func openStore(t *testing.T, url string, logger *slog.Logger) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, url, logger)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// rawClient talks to the server directly, for what the port cannot do
// (tombstones, stream metadata).
func rawClient(t *testing.T, url string) *esdb.Client {
	t.Helper()
	cfg, err := esdb.ParseConnectionString(url)
	require.NoError(t, err)
	cfg.Logger = esdb.NoopLogging()
	c, err := esdb.NewClient(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func numbered(n int) domain.ProposedEvent {
	data, _ := json.Marshal(map[string]int{"n": n})
	return domain.ProposedEvent{ID: uuid.NewString(), Type: "Numbered", Data: data, Metadata: []byte(`{}`)}
}

// capturedLogs keeps a test's logs and prints them only if it fails; the
// client may still log after the test has ended, which t.Log would not allow.
type capturedLogs struct {
	logger *slog.Logger
	mu     sync.Mutex
	buf    bytes.Buffer
}

func testLogger(t *testing.T) *capturedLogs {
	l := &capturedLogs{}
	l.logger = slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", l.String())
		}
	})
	return l
}

func (l *capturedLogs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *capturedLogs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

type collector struct {
	mu   sync.Mutex
	seen []domain.RecordedEvent
}

func newCollector() *collector { return &collector{} }

func (c *collector) add(e domain.RecordedEvent) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen = append(c.seen, e)
	return len(c.seen)
}

func (c *collector) handle(_ context.Context, e domain.RecordedEvent) error {
	c.add(e)
	return nil
}

func (c *collector) events() []domain.RecordedEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]domain.RecordedEvent(nil), c.seen...)
}

func (c *collector) waitFor(t *testing.T, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return len(c.events()) >= n }, 20*time.Second, 5*time.Millisecond,
		"waiting for %d events", n)
}

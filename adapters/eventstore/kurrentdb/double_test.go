package kurrentdb

// No KurrentDB can run on the development machines, so the adapter is tested
// against this in-process Streams service. It follows the real server's
// documented behaviour as far as the v4.2.0 client can observe it
// (shared/design/KURRENTDB-DOUBLE.md): the real client talks gRPC to it, so
// the client's own traps (log.Fatalf on a missing "created", panics on an
// unexpected read message or a missing "stream-name" trailer, a hang without a
// subscription confirmation) fire here as they would in production.
//
// Deliberately left out: Delete (soft delete), BatchAppend (v4.2.0 never calls
// it), ServerFeatures (Unimplemented is the "old server" answer the client
// accepts), link events and resolve_links, first/last stream positions
// (compatibility ≥ 1, never asked for by this client), authentication, ACLs,
// stream metadata semantics ($maxAge, $tb, …), fell_behind (the current server
// never sends it).

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

const (
	// The real server refuses appends larger than MaxAppendSize, 1 MiB by default.
	doubleMaxAppendSize = 1 << 20
	// tombstoneRevision is the revision the real server gives a tombstone (long.MaxValue).
	tombstoneRevision = math.MaxInt64
	// defaultFilterWindow stands for the server's read batch size when a
	// filter asks for a "count" window instead of a max search window.
	defaultFilterWindow = 32
)

// doubleServer is an in-memory KurrentDB Streams service.
type doubleServer struct {
	streams.UnimplementedStreamsServer

	addr string
	grpc *grpc.Server

	mu       sync.Mutex
	log      []*storedEvent // $all, in position order; entries never change
	byName   map[string]*streamState
	nextPos  uint64
	appended chan struct{} // closed and replaced by every write, to wake live subscriptions
	dropped  chan struct{} // closed and replaced by dropSubscriptions
	started  int           // subscriptions confirmed so far
	now      func() time.Time
	// maxAppendSize is the server's MaxAppendSize (doubleMaxAppendSize unless a test lowers it).
	maxAppendSize int
}

type storedEvent struct {
	stream         string
	revision       uint64
	position       uint64
	id             uuid.UUID
	metadata       map[string]string // type, content-type, created
	customMetadata []byte
	data           []byte
}

type streamState struct {
	events     []*storedEvent // by revision
	ids        map[uuid.UUID]*storedEvent
	tombstoned bool
}

// startDouble serves a fresh double on 127.0.0.1 until the test ends.
func startDouble(t *testing.T) *doubleServer {
	t.Helper()
	return startDoubleAt(t, "127.0.0.1:0")
}

func startDoubleAt(t *testing.T, addr string) *doubleServer {
	t.Helper()
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("double: listen: %v", err)
	}
	d := &doubleServer{
		addr:     lis.Addr().String(),
		byName:   map[string]*streamState{},
		nextPos:  128, // the real log starts with a header; no event sits at 0
		appended: make(chan struct{}),
		dropped:  make(chan struct{}),
		now:      time.Now,

		maxAppendSize: doubleMaxAppendSize,
	}
	d.grpc = grpc.NewServer(
		// The client pings every 10 s even when idle; grpc-go's default policy
		// (5 min) answers with GOAWAY too_many_pings and drops subscriptions.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.MaxRecvMsgSize(17<<20),
	)
	streams.RegisterStreamsServer(d.grpc, d)
	// A real log never starts empty; a system event at the head checks that
	// the adapter hides what it must hide.
	d.mu.Lock()
	d.write("$epochs", "$epoch-information", []byte(`{"epochNumber":0}`))
	d.mu.Unlock()
	go func() { _ = d.grpc.Serve(lis) }()
	t.Cleanup(d.stop)
	return d
}

func (d *doubleServer) url() string { return "esdb://" + d.addr + "?tls=false" }

// stop closes every connection at once, as a crashed server would.
func (d *doubleServer) stop() { d.grpc.Stop() }

// dropSubscriptions ends every running subscription with Unavailable, as the
// real server does when it goes away or sheds load.
func (d *doubleServer) dropSubscriptions() {
	d.mu.Lock()
	defer d.mu.Unlock()
	close(d.dropped)
	d.dropped = make(chan struct{})
}

// subscriptionsStarted counts confirmed subscriptions, so a test can wait for
// a resubscription.
func (d *doubleServer) subscriptionsStarted() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.started
}

// write appends one system event; d.mu must be held.
func (d *doubleServer) write(stream, typ string, data []byte) *storedEvent {
	st := d.stream(stream)
	ev := d.record(stream, uint64(len(st.events)), uuid.New(), map[string]string{"type": typ, "content-type": "application/json"}, nil, data)
	st.events = append(st.events, ev)
	st.ids[ev.id] = ev
	d.wake()
	return ev
}

func (d *doubleServer) stream(name string) *streamState {
	st := d.byName[name]
	if st == nil {
		st = &streamState{ids: map[uuid.UUID]*storedEvent{}}
		d.byName[name] = st
	}
	return st
}

// record gives an event the next log position. Positions are byte offsets in
// the real log, so they leave gaps; the double leaves gaps too, so that code
// assuming position+1 fails here rather than in production.
func (d *doubleServer) record(stream string, rev uint64, id uuid.UUID, md map[string]string, custom, data []byte) *storedEvent {
	ev := &storedEvent{
		stream:   stream,
		revision: rev,
		position: d.nextPos,
		id:       id,
		metadata: map[string]string{
			"type":         md["type"],
			"content-type": md["content-type"],
			// .NET ticks (100 ns) since the Unix epoch; without it the client exits the process.
			"created": strconv.FormatInt(d.now().UnixNano()/100, 10),
		},
		customMetadata: append([]byte{}, custom...),
		data:           append([]byte{}, data...),
	}
	d.nextPos += uint64(96 + len(stream) + len(md["type"]) + len(custom) + len(data))
	d.log = append(d.log, ev)
	return ev
}

func (d *doubleServer) wake() {
	close(d.appended)
	d.appended = make(chan struct{})
}

// rpcException is how the real server reports domain errors: a status plus
// an "exception" trailer the client reads.
func rpcException(setTrailer func(metadata.MD), code codes.Code, exception string, msg string, kv ...string) error {
	setTrailer(metadata.Pairs(append([]string{"exception", exception}, kv...)...))
	return status.Error(code, msg)
}

func streamDeleted(setTrailer func(metadata.MD), name string) error {
	// The client indexes the "stream-name" trailer without checking it exists.
	return rpcException(setTrailer, codes.FailedPrecondition, "stream-deleted", fmt.Sprintf("Event stream '%s' is deleted.", name), "stream-name", name)
}

// ---- Append ----------------------------------------------------------------

type proposal struct {
	id  uuid.UUID
	msg *streams.AppendReq_ProposedMessage
}

func (d *doubleServer) Append(srv streams.Streams_AppendServer) error {
	first, err := srv.Recv()
	if err != nil {
		return err
	}
	opts := first.GetOptions()
	if opts == nil {
		return status.Error(codes.InvalidArgument, "options must be the first message of an append")
	}
	name := string(opts.GetStreamIdentifier().GetStreamName())
	if name == "" {
		return status.Error(codes.InvalidArgument, "stream name is required")
	}
	// The real server reads the whole request before it answers; replying
	// early would make the client's next Send fail with EOF.
	var proposed []proposal
	size := 0
	for {
		req, err := srv.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		msg := req.GetProposedMessage()
		if msg == nil {
			return status.Error(codes.InvalidArgument, "only proposed messages may follow the options")
		}
		for _, key := range []string{"type", "content-type"} {
			if _, ok := msg.GetMetadata()[key]; !ok {
				return rpcException(srv.SetTrailer, codes.InvalidArgument, "missing-required-metadata-property",
					fmt.Sprintf("Required Metadata Property '%s' is missing", key), "required-properties", "type, content-type")
			}
		}
		id, err := uuidFromProto(msg.GetId())
		if err != nil {
			return status.Errorf(codes.InvalidArgument, "bad event id: %v", err)
		}
		size += proto.Size(msg)
		proposed = append(proposed, proposal{id: id, msg: msg})
	}
	d.mu.Lock()
	limit := d.maxAppendSize
	d.mu.Unlock()
	if size > limit {
		return rpcException(srv.SetTrailer, codes.InvalidArgument, "maximum-append-size-exceeded",
			fmt.Sprintf("Maximum Append Size of %d Exceeded.", limit), "maximum-append-size", strconv.Itoa(limit))
	}
	resp, err := d.commit(name, opts, proposed, srv.SetTrailer)
	if err != nil {
		return err
	}
	return srv.SendAndClose(resp)
}

// current returns a stream (nil when missing) and its last revision (-1 when
// missing), or the stream-deleted error for a tombstoned one. d.mu is held.
func (d *doubleServer) current(name string, setTrailer func(metadata.MD)) (*streamState, int64, error) {
	st := d.byName[name]
	if st != nil && st.tombstoned {
		return nil, 0, streamDeleted(setTrailer, name)
	}
	if st == nil {
		return nil, -1, nil
	}
	return st, int64(len(st.events)) - 1, nil
}

// commit applies the expected-revision rules of the real server's
// IndexWriter.CheckCommit, idempotent re-appends included.
func (d *doubleServer) commit(name string, opts *streams.AppendReq_Options, proposed []proposal, setTrailer func(metadata.MD)) (*streams.AppendResp, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st, cur, err := d.current(name, setTrailer)
	if err != nil {
		return nil, err
	}
	wrong := func() (*streams.AppendResp, error) { return wrongExpectedVersion(cur, opts), nil }

	var expected int64
	switch e := opts.GetExpectedStreamRevision().(type) {
	case *streams.AppendReq_Options_Revision:
		if e.Revision > math.MaxInt64 {
			return wrong()
		}
		expected = int64(e.Revision)
	case *streams.AppendReq_Options_NoStream:
		expected = -1
	case *streams.AppendReq_Options_StreamExists:
		if cur < 0 && d.byName["$$"+name] == nil {
			return wrong()
		}
		return d.appendAny(name, st, cur, proposed, wrong)
	default: // any, and the default when the client sends nothing
		return d.appendAny(name, st, cur, proposed, wrong)
	}

	switch {
	case expected == cur:
		return d.appendAt(name, cur, proposed), nil
	case expected > cur || len(proposed) == 0:
		return wrong()
	}
	// Behind the stream: idempotent if the ids are the events stored right
	// after the expected revision.
	var last *storedEvent
	for i, p := range proposed {
		rev := expected + 1 + int64(i)
		if rev > cur || st.events[rev].id != p.id {
			// The first id not matching is a conflict; a partial match is
			// "corrupted idempotency", which reaches the client as a conflict too.
			return wrong()
		}
		last = st.events[rev]
	}
	return success(int64(last.revision), last.position), nil
}

// appendAny handles any/stream_exists: the server keeps a cache of recently
// committed ids per stream; a repeat of ids found there is idempotent.
func (d *doubleServer) appendAny(name string, st *streamState, cur int64, proposed []proposal, wrong func() (*streams.AppendResp, error)) (*streams.AppendResp, error) {
	if st == nil || len(proposed) == 0 || st.ids[proposed[0].id] == nil {
		return d.appendAt(name, cur, proposed), nil
	}
	var last *storedEvent
	for _, p := range proposed {
		ev := st.ids[p.id]
		if ev == nil {
			return wrong()
		}
		last = ev
	}
	return success(int64(last.revision), last.position), nil
}

func (d *doubleServer) appendAt(name string, cur int64, proposed []proposal) *streams.AppendResp {
	if len(proposed) == 0 {
		resp := &streams.AppendResp_Success{PositionOption: &streams.AppendResp_Success_NoPosition{NoPosition: &shared.Empty{}}}
		if cur < 0 {
			resp.CurrentRevisionOption = &streams.AppendResp_Success_NoStream{NoStream: &shared.Empty{}}
		} else {
			resp.CurrentRevisionOption = &streams.AppendResp_Success_CurrentRevision{CurrentRevision: uint64(cur)}
		}
		return &streams.AppendResp{Result: &streams.AppendResp_Success_{Success: resp}}
	}
	st := d.stream(name)
	var last *storedEvent
	for _, p := range proposed {
		last = d.record(name, uint64(len(st.events)), p.id, p.msg.GetMetadata(), p.msg.GetCustomMetadata(), p.msg.GetData())
		st.events = append(st.events, last)
		st.ids[p.id] = last
	}
	d.wake()
	return success(int64(last.revision), last.position)
}

func success(rev int64, pos uint64) *streams.AppendResp {
	return &streams.AppendResp{Result: &streams.AppendResp_Success_{Success: &streams.AppendResp_Success{
		CurrentRevisionOption: &streams.AppendResp_Success_CurrentRevision{CurrentRevision: uint64(rev)},
		PositionOption: &streams.AppendResp_Success_Position{Position: &streams.AppendResp_Position{
			CommitPosition: pos, PreparePosition: pos,
		}},
	}}}
}

// wrongExpectedVersion is a normal response, not a status: the client reads
// fields 6–11; the server fills the legacy 1–5 as well.
func wrongExpectedVersion(cur int64, opts *streams.AppendReq_Options) *streams.AppendResp {
	w := &streams.AppendResp_WrongExpectedVersion{}
	if cur < 0 {
		w.CurrentRevisionOption = &streams.AppendResp_WrongExpectedVersion_CurrentNoStream{CurrentNoStream: &shared.Empty{}}
		w.CurrentRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_NoStream_20_6_0{NoStream_20_6_0: &shared.Empty{}}
	} else {
		w.CurrentRevisionOption = &streams.AppendResp_WrongExpectedVersion_CurrentRevision{CurrentRevision: uint64(cur)}
		w.CurrentRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_CurrentRevision_20_6_0{CurrentRevision_20_6_0: uint64(cur)}
	}
	switch e := opts.GetExpectedStreamRevision().(type) {
	case *streams.AppendReq_Options_Revision:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedRevision{ExpectedRevision: e.Revision}
		w.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_ExpectedRevision_20_6_0{ExpectedRevision_20_6_0: e.Revision}
	case *streams.AppendReq_Options_NoStream:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedNoStream{ExpectedNoStream: &shared.Empty{}}
	case *streams.AppendReq_Options_StreamExists:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedStreamExists{ExpectedStreamExists: &shared.Empty{}}
		w.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_StreamExists_20_6_0{StreamExists_20_6_0: &shared.Empty{}}
	default:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedAny{ExpectedAny: &shared.Empty{}}
		w.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_Any_20_6_0{Any_20_6_0: &shared.Empty{}}
	}
	return &streams.AppendResp{Result: &streams.AppendResp_WrongExpectedVersion_{WrongExpectedVersion: w}}
}

// ---- Tombstone ---------------------------------------------------------------

// Tombstone exists so the stream-deleted path of the adapter can be tested.
func (d *doubleServer) Tombstone(ctx context.Context, req *streams.TombstoneReq) (*streams.TombstoneResp, error) {
	setTrailer := func(md metadata.MD) { _ = grpc.SetTrailer(ctx, md) }
	name := string(req.GetOptions().GetStreamIdentifier().GetStreamName())
	if name == "" {
		return nil, status.Error(codes.InvalidArgument, "stream name is required")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	st, cur, err := d.current(name, setTrailer)
	if err != nil {
		return nil, err
	}
	ok := true
	switch e := req.GetOptions().GetExpectedStreamRevision().(type) {
	case *streams.TombstoneReq_Options_Revision:
		ok = int64(e.Revision) == cur
	case *streams.TombstoneReq_Options_NoStream:
		ok = cur < 0
	case *streams.TombstoneReq_Options_StreamExists:
		ok = cur >= 0
	}
	if !ok {
		return nil, rpcException(setTrailer, codes.FailedPrecondition, "wrong-expected-version", "Append failed due to WrongExpectedVersion.")
	}
	st = d.stream(name)
	st.tombstoned = true
	ev := d.record(name, tombstoneRevision, uuid.New(), map[string]string{"type": "$streamDeleted", "content-type": "application/octet-stream"}, nil, nil)
	d.wake()
	return &streams.TombstoneResp{PositionOption: &streams.TombstoneResp_Position_{
		Position: &streams.TombstoneResp_Position{CommitPosition: ev.position, PreparePosition: ev.position},
	}}, nil
}

// ---- Read ------------------------------------------------------------------

func (d *doubleServer) Read(req *streams.ReadReq, srv streams.Streams_ReadServer) error {
	o := req.GetOptions()
	if o == nil {
		return status.Error(codes.InvalidArgument, "options are required")
	}
	if o.GetStream() != nil && o.GetFilter() != nil {
		return status.Error(codes.InvalidArgument, "filters apply to $all only")
	}
	match, err := newFilter(o.GetFilter())
	if err != nil {
		return err
	}
	stringIDs := o.GetUuidOption().GetString_() != nil
	switch o.GetCountOption().(type) {
	case *streams.ReadReq_Options_Count:
		if o.GetStream() != nil {
			return d.readStream(o, stringIDs, srv)
		}
		return d.readAll(o, match, stringIDs, srv)
	case *streams.ReadReq_Options_Subscription:
		if o.GetReadDirection() != streams.ReadReq_Options_Forwards {
			return status.Error(codes.InvalidArgument, "subscriptions read forwards only")
		}
		return d.subscribe(o, match, stringIDs, srv)
	default:
		return status.Error(codes.InvalidArgument, "count or subscription is required")
	}
}

// A finite read sends only events and stream_not_found: any other message
// makes the v4.2.0 client panic with "unreachable code".
func (d *doubleServer) readStream(o *streams.ReadReq_Options, stringIDs bool, srv streams.Streams_ReadServer) error {
	so := o.GetStream()
	name := string(so.GetStreamIdentifier().GetStreamName())
	d.mu.Lock()
	st := d.byName[name]
	var events []*storedEvent
	tombstoned := st != nil && st.tombstoned
	if st != nil {
		events = st.events
	}
	d.mu.Unlock()
	if tombstoned {
		return streamDeleted(srv.SetTrailer, name)
	}
	if len(events) == 0 {
		return srv.Send(&streams.ReadResp{Content: &streams.ReadResp_StreamNotFound_{StreamNotFound: &streams.ReadResp_StreamNotFound{
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(name)},
		}}})
	}
	count := o.GetCount()
	last := uint64(len(events) - 1)
	if o.GetReadDirection() == streams.ReadReq_Options_Backwards {
		from := last
		if r, ok := so.GetRevisionOption().(*streams.ReadReq_Options_StreamOptions_Revision); ok {
			if r.Revision < last {
				from = r.Revision
			}
		} else if so.GetStart() != nil {
			from = 0
		}
		for rev := int64(from); rev >= 0 && count > 0; rev, count = rev-1, count-1 {
			if err := srv.Send(readEvent(events[rev], stringIDs)); err != nil {
				return err
			}
		}
		return nil
	}
	from := uint64(0)
	if r, ok := so.GetRevisionOption().(*streams.ReadReq_Options_StreamOptions_Revision); ok {
		from = r.Revision
	} else if so.GetEnd() != nil {
		from = last + 1
	}
	for rev := from; rev <= last && count > 0; rev, count = rev+1, count-1 {
		if err := srv.Send(readEvent(events[rev], stringIDs)); err != nil {
			return err
		}
	}
	return nil
}

func (d *doubleServer) readAll(o *streams.ReadReq_Options, match *filter, stringIDs bool, srv streams.Streams_ReadServer) error {
	d.mu.Lock()
	log := d.log
	d.mu.Unlock()
	count := o.GetCount()
	ao := o.GetAll()
	send := func(ev *storedEvent) error {
		if match != nil && !match.allows(ev) {
			return nil
		}
		count--
		return srv.Send(readEvent(ev, stringIDs))
	}
	if o.GetReadDirection() == streams.ReadReq_Options_Backwards {
		// Backwards from a position excludes it (the client's own test data shows it).
		end := len(log)
		if p := ao.GetPosition(); p != nil {
			end = firstAtOrAfter(log, p.GetCommitPosition())
		} else if ao.GetStart() != nil {
			end = 0
		}
		for i := end - 1; i >= 0 && count > 0; i-- {
			if err := send(log[i]); err != nil {
				return err
			}
		}
		return nil
	}
	// Forwards from a position includes it.
	start := 0
	if p := ao.GetPosition(); p != nil {
		start = firstAtOrAfter(log, p.GetCommitPosition())
	} else if ao.GetEnd() != nil {
		start = len(log)
	}
	for i := start; i < len(log) && count > 0; i++ {
		if err := send(log[i]); err != nil {
			return err
		}
	}
	return nil
}

func firstAtOrAfter(log []*storedEvent, pos uint64) int {
	return sort.Search(len(log), func(i int) bool { return log[i].position >= pos })
}

// subscribe sends confirmation, the catch-up events, a checkpoint (filtered
// $all only), caught_up, then live events. The start position is exclusive.
func (d *doubleServer) subscribe(o *streams.ReadReq_Options, match *filter, stringIDs bool, srv streams.Streams_ReadServer) error {
	ctx := srv.Context()
	d.mu.Lock()
	dropped := d.dropped
	log := d.log
	var (
		next    int                     // index in log of the next event to consider
		include func(*storedEvent) bool // whether an event belongs to this subscription
		name    string                  // stream subscriptions only
		lastPos uint64                  // of the last event considered, for checkpoints
	)
	if so := o.GetStream(); so != nil {
		name = string(so.GetStreamIdentifier().GetStreamName())
		st := d.byName[name]
		if st != nil && st.tombstoned {
			d.mu.Unlock()
			return streamDeleted(srv.SetTrailer, name)
		}
		after := int64(-1)
		switch r := so.GetRevisionOption().(type) {
		case *streams.ReadReq_Options_StreamOptions_Revision:
			after = int64(r.Revision)
		case *streams.ReadReq_Options_StreamOptions_End:
			if st != nil {
				after = int64(len(st.events)) - 1
			}
			next = len(log)
		}
		include = func(ev *storedEvent) bool { return ev.stream == name && int64(ev.revision) > after }
	} else {
		ao := o.GetAll()
		if p := ao.GetPosition(); p != nil {
			next = sort.Search(len(log), func(i int) bool { return log[i].position > p.GetCommitPosition() })
		} else if ao.GetEnd() != nil {
			next = len(log)
		}
		include = func(ev *storedEvent) bool { return match == nil || match.allows(ev) }
		if next > 0 {
			lastPos = log[next-1].position
		}
	}
	d.started++
	d.mu.Unlock()

	if err := srv.Send(&streams.ReadResp{Content: &streams.ReadResp_Confirmation{Confirmation: &streams.ReadResp_SubscriptionConfirmation{
		SubscriptionId: uuid.NewString(),
	}}}); err != nil {
		return err
	}
	checkpoint := func(pos uint64) error {
		return srv.Send(&streams.ReadResp{Content: &streams.ReadResp_Checkpoint_{Checkpoint: &streams.ReadResp_Checkpoint{
			CommitPosition: pos, PreparePosition: pos,
		}}})
	}
	considered := uint32(0)
	caughtUp := false
	for {
		d.mu.Lock()
		batch := d.log[next:]
		wake := d.appended
		d.mu.Unlock()
		for _, ev := range batch {
			select {
			case <-dropped:
				return status.Error(codes.Unavailable, "subscription dropped by the test")
			default:
			}
			next++
			lastPos = ev.position
			if name != "" && ev.stream == name && ev.revision == tombstoneRevision {
				return streamDeleted(srv.SetTrailer, name)
			}
			if include(ev) {
				if err := srv.Send(readEvent(ev, stringIDs)); err != nil {
					return err
				}
			}
			if match != nil {
				considered++
				if considered%match.checkpointEvery == 0 {
					if err := checkpoint(lastPos); err != nil {
						return err
					}
				}
			}
		}
		if !caughtUp {
			if match != nil {
				if err := checkpoint(lastPos); err != nil {
					return err
				}
			}
			if err := srv.Send(&streams.ReadResp{Content: &streams.ReadResp_CaughtUp_{CaughtUp: &streams.ReadResp_CaughtUp{}}}); err != nil {
				return err
			}
			caughtUp = true
		}
		select {
		case <-wake:
		case <-dropped:
			return status.Error(codes.Unavailable, "subscription dropped by the test")
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		}
	}
}

func readEvent(ev *storedEvent, stringIDs bool) *streams.ReadResp {
	return &streams.ReadResp{Content: &streams.ReadResp_Event{Event: &streams.ReadResp_ReadEvent{
		Event: &streams.ReadResp_ReadEvent_RecordedEvent{
			Id:               uuidToProto(ev.id, stringIDs),
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(ev.stream)},
			StreamRevision:   ev.revision,
			// A self-committed event has commit == prepare == its log position.
			PreparePosition: ev.position,
			CommitPosition:  ev.position,
			Metadata:        ev.metadata,
			CustomMetadata:  ev.customMetadata,
			Data:            ev.data,
		},
		Position: &streams.ReadResp_ReadEvent_CommitPosition{CommitPosition: ev.position},
	}}}
}

// ---- Filters -----------------------------------------------------------------

type filter struct {
	onType          bool // event type, else stream name
	regex           *regexp.Regexp
	prefixes        []string
	checkpointEvery uint32
}

func newFilter(f *streams.ReadReq_Options_FilterOptions) (*filter, error) {
	if f == nil {
		return nil, nil
	}
	out := &filter{}
	var expr *streams.ReadReq_Options_FilterOptions_Expression
	switch {
	case f.GetEventType() != nil:
		out.onType, expr = true, f.GetEventType()
	case f.GetStreamIdentifier() != nil:
		expr = f.GetStreamIdentifier()
	default:
		return nil, status.Error(codes.InvalidArgument, "filter needs an event type or stream expression")
	}
	if expr.GetRegex() != "" {
		// .NET Regex.Match is an unanchored search, as Go's MatchString is.
		re, err := regexp.Compile(expr.GetRegex())
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "bad filter regex: %v", err)
		}
		out.regex = re
	}
	out.prefixes = expr.GetPrefix()
	window := f.GetMax()
	if f.GetCount() != nil || window == 0 {
		window = defaultFilterWindow
	}
	if f.GetCheckpointIntervalMultiplier() == 0 {
		return nil, status.Error(codes.InvalidArgument, "checkpoint interval multiplier must be positive")
	}
	out.checkpointEvery = window * f.GetCheckpointIntervalMultiplier()
	return out, nil
}

func (f *filter) allows(ev *storedEvent) bool {
	// The server hides these from filtered $all reads whatever the filter says.
	if ev.metadata["type"] == "$epoch-information" ||
		(strings.HasPrefix(ev.stream, "$persistentsubscription-$all::") &&
			(strings.HasSuffix(ev.stream, "-checkpoint") || strings.HasSuffix(ev.stream, "-parked"))) {
		return false
	}
	subject := ev.stream
	if f.onType {
		subject = ev.metadata["type"]
	}
	if f.regex != nil {
		return f.regex.MatchString(subject)
	}
	for _, p := range f.prefixes {
		if strings.HasPrefix(subject, p) {
			return true
		}
	}
	return false
}

// ---- UUIDs -------------------------------------------------------------------

// The structured form is the two big-endian halves of the 16 bytes, which is
// how the client decodes it.
func uuidToProto(id uuid.UUID, asString bool) *shared.UUID {
	if asString {
		return &shared.UUID{Value: &shared.UUID_String_{String_: id.String()}}
	}
	return &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{
		MostSignificantBits:  int64(binary.BigEndian.Uint64(id[:8])),
		LeastSignificantBits: int64(binary.BigEndian.Uint64(id[8:])),
	}}}
}

func uuidFromProto(id *shared.UUID) (uuid.UUID, error) {
	if s := id.GetStructured(); s != nil {
		var u uuid.UUID
		binary.BigEndian.PutUint64(u[:8], uint64(s.GetMostSignificantBits()))
		binary.BigEndian.PutUint64(u[8:], uint64(s.GetLeastSignificantBits()))
		return u, nil
	}
	if id.GetString_() != "" {
		return uuid.Parse(id.GetString_())
	}
	return uuid.Nil, errors.New("missing id")
}

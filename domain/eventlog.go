package domain

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// The event log vocabulary shared by every event store backend. Commands and
// projections speak these types; adapters translate them to a backend.

// StreamStart and StreamEnd name the ends of a stream for ReadStream.
const (
	StreamStart uint64 = 0
	StreamEnd   uint64 = math.MaxUint64
)

// ReadDirection is the direction of a stream read.
type ReadDirection int

const (
	Forwards ReadDirection = iota
	Backwards
)

type expectationKind uint8

const (
	expectAny expectationKind = iota
	expectNoStream
	expectStreamExists
	expectExact
)

// ExpectedRevision is the optimistic-concurrency condition of an append.
type ExpectedRevision struct {
	kind     expectationKind
	revision uint64
}

// AnyRevision appends whatever the stream's state.
func AnyRevision() ExpectedRevision { return ExpectedRevision{kind: expectAny} }

// NoStream appends only when the stream does not exist yet.
func NoStream() ExpectedRevision { return ExpectedRevision{kind: expectNoStream} }

// StreamExists appends only when the stream has at least one event.
func StreamExists() ExpectedRevision { return ExpectedRevision{kind: expectStreamExists} }

// ExactRevision appends only when the stream's last event has this revision.
func ExactRevision(rev uint64) ExpectedRevision {
	return ExpectedRevision{kind: expectExact, revision: rev}
}

// IsAny, IsNoStream, IsStreamExists and Exact let adapters translate the expectation.
func (e ExpectedRevision) IsAny() bool          { return e.kind == expectAny }
func (e ExpectedRevision) IsNoStream() bool     { return e.kind == expectNoStream }
func (e ExpectedRevision) IsStreamExists() bool { return e.kind == expectStreamExists }

// Exact returns the revision and true when the expectation is an exact revision.
func (e ExpectedRevision) Exact() (uint64, bool) { return e.revision, e.kind == expectExact }

func (e ExpectedRevision) String() string {
	switch e.kind {
	case expectNoStream:
		return "no stream"
	case expectStreamExists:
		return "stream exists"
	case expectExact:
		return fmt.Sprintf("revision %d", e.revision)
	default:
		return "any"
	}
}

// ExpectedFromVersion turns a loaded aggregate version (-1 when new) into the expectation
// that guards the next append.
func ExpectedFromVersion(version int64) ExpectedRevision {
	if version < 0 {
		return NoStream()
	}
	return ExactRevision(uint64(version))
}

// ProposedEvent is an event about to be appended.
type ProposedEvent struct {
	ID       string // UUID; deterministic when the input has a natural key
	Type     string
	Data     []byte // JSON
	Metadata []byte // JSON-encoded Metadata
}

// RecordedEvent is an event read back from the log.
type RecordedEvent struct {
	StreamID string
	Revision uint64 // 0-based position within the stream
	Position uint64 // global log position, strictly increasing in commit order
	ID       string
	Type     string
	Data     []byte
	Metadata []byte
	Created  time.Time
}

// StreamAppend is one stream's part of an atomic multi-stream append.
type StreamAppend struct {
	Stream   string
	Expected ExpectedRevision
	Events   []ProposedEvent
}

// AppendResult tells where an append landed.
type AppendResult struct {
	NextExpectedRevision uint64 // revision of the last event of the stream after the append
	Position             uint64 // global position of the last appended event
	// Repeated says every event was stored already where the append would put
	// them: an idempotent repeat that wrote nothing (KurrentDB's rule). A
	// backend that cannot tell leaves it false.
	Repeated bool
}

// Event log errors, the same whatever the backend.
var (
	ErrWrongExpectedRevision = errors.New("wrong expected revision")
	ErrStreamNotFound        = errors.New("stream not found")
	ErrStreamDeleted         = errors.New("stream deleted")
)

// WrongExpectedRevisionError carries the details of a failed concurrency check.
// errors.Is(err, ErrWrongExpectedRevision) is true for it.
type WrongExpectedRevisionError struct {
	Stream   string
	Expected ExpectedRevision
	Actual   int64 // -1 when the stream does not exist
}

func (e *WrongExpectedRevisionError) Error() string {
	actual := "no stream"
	if e.Actual >= 0 {
		actual = fmt.Sprintf("revision %d", e.Actual)
	}
	return fmt.Sprintf("wrong expected revision on stream %q: expected %s, stream is at %s", e.Stream, e.Expected, actual)
}

func (e *WrongExpectedRevisionError) Is(target error) bool { return target == ErrWrongExpectedRevision }

// StreamNotFoundError names the missing stream; errors.Is(err, ErrStreamNotFound) is true for it.
type StreamNotFoundError struct{ Stream string }

func (e *StreamNotFoundError) Error() string   { return fmt.Sprintf("stream %q not found", e.Stream) }
func (e *StreamNotFoundError) Is(t error) bool { return t == ErrStreamNotFound }

// MaxAppendBytes is the most one append may carry, counted by AppendSize. It
// is KurrentDB's default MaxAppendSize (1 MiB); the Postgres store refuses the
// same appends, so an input is accepted or refused alike on either backend.
const MaxAppendBytes = 1 << 20

// appendOverheadBytes is counted per event above its data, metadata and type:
// more than what the KurrentDB wire format adds (id, content type, framing),
// so an append within MaxAppendBytes here is within the server's limit too.
const appendOverheadBytes = 128

// AppendSize is what an append counts against MaxAppendBytes.
func AppendSize(events []ProposedEvent) int {
	n := 0
	for _, ev := range events {
		n += len(ev.Data) + len(ev.Metadata) + len(ev.Type) + appendOverheadBytes
	}
	return n
}

// CheckAppendSize refuses an append larger than MaxAppendBytes with
// ErrAppendTooLarge naming both sizes.
func CheckAppendSize(stream string, events []ProposedEvent) error {
	if n := AppendSize(events); n > MaxAppendBytes {
		return Errorf(ErrAppendTooLarge, "the events for %s take %d bytes once stored; the event store takes at most %d in one append", streamKind(stream), n, MaxAppendBytes)
	}
	return nil
}

// streamKind is a stream name without its id ("thread" for "thread-soth_…"),
// so an error answered to a client names no internal stream.
func streamKind(stream string) string {
	for i := 0; i < len(stream); i++ {
		if stream[i] == '-' {
			return stream[:i]
		}
	}
	return stream
}

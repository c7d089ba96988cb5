// Package eventstoretest is the contract every event store backend must pass.
// Each backend's tests call Run with a factory; a backend is done when the
// suite is green. The suite tolerates foreign events in the log (a shared real
// KurrentDB): every test works on streams with its own random prefix.
package eventstoretest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/eventstore"
	"github.com/socialops/socialops/domain"
)

// Factory returns a store ready for use; it registers its own cleanup.
type Factory func(t *testing.T) eventstore.Store

// Run runs the whole contract suite against the store the factory makes.
func Run(t *testing.T, newStore Factory) {
	tests := []struct {
		name string
		fn   func(*testing.T, eventstore.Store)
	}{
		{"AppendAndReadRoundTrip", testAppendAndReadRoundTrip},
		{"ReadStreamDirectionsAndCounts", testReadStreamDirectionsAndCounts},
		{"ReadMissingStream", testReadMissingStream},
		{"NoStreamTwice", testNoStreamTwice},
		{"ExpectationRules", testExpectationRules},
		{"ConcurrentAppendsOneWins", testConcurrentAppendsOneWins},
		{"IdempotentAppendSameIDs", testIdempotentAppend},
		{"ReadAllAfterPosition", testReadAllAfterPosition},
		{"SubscriberSeesConcurrentAppendsOnceInOrder", testSubscriberSeesConcurrentAppends},
		{"SubscriberResumesFromStoredPosition", testSubscriberResumes},
		{"SubscribeHandlerErrorStops", testSubscribeHandlerErrorStops},
		{"AppendOverSizeLimitRefused", testAppendOverSizeLimit},
		{"IdentityIsStableAndHidden", testIdentityIsStableAndHidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := newStore(t)
			tc.fn(t, store)
		})
	}
}

func prefix(t *testing.T) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "ct" + hex.EncodeToString(b[:]) + "-"
}

func newID() string { return domain.RandomUUID(rand.Reader) }

func event(typ string, data any) domain.ProposedEvent {
	raw, err := json.Marshal(data)
	if err != nil {
		panic(err)
	}
	meta, _ := json.Marshal(domain.Metadata{EventID: "x", Actor: domain.Actor{Kind: domain.ActorSystem, ID: "contract"}})
	return domain.ProposedEvent{ID: newID(), Type: typ, Data: raw, Metadata: meta}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func appendN(t *testing.T, s eventstore.Store, stream string, n int) []domain.ProposedEvent {
	evs := make([]domain.ProposedEvent, n)
	for i := range evs {
		evs[i] = event("Numbered", map[string]int{"n": i})
	}
	_, err := s.Append(ctx(t), stream, domain.AnyRevision(), evs...)
	require.NoError(t, err)
	return evs
}

func numbers(t *testing.T, evs []domain.RecordedEvent) []int {
	out := make([]int, len(evs))
	for i, e := range evs {
		var d struct{ N int }
		require.NoError(t, json.Unmarshal(e.Data, &d))
		out[i] = d.N
	}
	return out
}

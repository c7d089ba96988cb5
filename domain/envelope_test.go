package domain_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/domain"
)

func TestRegistryRoundTrip(t *testing.T) {
	r := domain.NewEventRegistry()
	meta := domain.Metadata{EventID: domain.EventUUID("k"), CorrelationID: "c", CausationID: "x", OwnerID: "o", InstanceAlias: "a",
		Actor: domain.Actor{Kind: domain.ActorUser, ID: "u"}, OccurredAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	ev, err := r.Encode(domain.NoteAdded{ThreadID: "soth_1", MessageID: "somsg_1", Text: "ghi chú 备注", AuthorID: "u"}, meta)
	require.NoError(t, err)
	assert.Equal(t, "NoteAdded", ev.Type)
	assert.Equal(t, meta.EventID, ev.ID)
	env, err := r.Decode(domain.RecordedEvent{Type: ev.Type, Data: ev.Data, Metadata: ev.Metadata, Position: 9})
	require.NoError(t, err)
	assert.Equal(t, 1, env.Version)
	assert.Equal(t, "ghi chú 备注", env.Payload.(domain.NoteAdded).Text)
	assert.Equal(t, meta.Actor, env.Metadata.Actor)
	assert.True(t, meta.OccurredAt.Equal(env.Metadata.OccurredAt))
}

func TestUnknownEventTypeNamesTheTypeAndNeverPanics(t *testing.T) {
	r := domain.NewEventRegistry()
	_, err := r.Decode(domain.RecordedEvent{Type: "ThreadTeleported", Data: []byte(`{}`), Position: 42})
	require.Error(t, err)
	assert.True(t, errors.Is(err, domain.ErrUnknownEventType))
	assert.Contains(t, err.Error(), "ThreadTeleported")
	assert.Contains(t, err.Error(), "42")

	for _, data := range [][]byte{nil, []byte(`not json`), []byte(`[1,2]`), []byte(`{"thread_id":5}`)} {
		assert.NotPanics(t, func() {
			_, err := r.Decode(domain.RecordedEvent{Type: "NoteAdded", Data: data, Metadata: []byte(`{`)})
			assert.Error(t, err)
		})
	}
	_, err = r.Encode(unregistered{}, domain.Metadata{EventID: "x"})
	assert.ErrorIs(t, err, domain.ErrUnknownEventType)
	assert.Panics(t, func() { r.Register(domain.NoteAdded{}, 2) }, "a type registered twice is a start-up bug")
}

type unregistered struct{}

func (unregistered) EventType() string { return "Unregistered" }

func TestIDs(t *testing.T) {
	assert.Equal(t, domain.DerivedID(domain.PrefixThread, "a", "b"), domain.DerivedID(domain.PrefixThread, "a", "b"))
	assert.NotEqual(t, domain.DerivedID(domain.PrefixThread, "ab", ""), domain.DerivedID(domain.PrefixThread, "a", "b"), "parts are separated")
	assert.Regexp(t, `^soth_[a-z2-7]{24}$`, domain.DerivedID(domain.PrefixThread, "x"))
	assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, domain.EventUUID("x", "y"))
	assert.Equal(t, domain.EventUUID("x", "y"), domain.EventUUID("x", "y"))
	assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4`, domain.RandomUUID(domain.CryptoRandom))
}

package projections_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

// The shared decoder answers what the registry answers; it reuses an
// envelope only for the same event bytes, never for another event that
// happens to sit at the same position (another database, a rebuilt log).
func TestSharedDecoderReusesOnlyTheSameEvent(t *testing.T) {
	reg := domain.NewEventRegistry()
	d := projections.NewSharedDecoder(reg)
	recorded := func(pos uint64, text string) domain.RecordedEvent {
		p, err := reg.Encode(domain.InboundMessageReceived{ThreadID: "t1", MessageID: "m1", Text: text, Labels: []string{"a", "b"}},
			domain.Metadata{EventID: "4f1c6f57-2a0e-4d8f-9a53-0a6c1f1d2e3b", OccurredAt: time.Unix(1700000000, 0).UTC()})
		require.NoError(t, err)
		return domain.RecordedEvent{StreamID: "thread-t1", Position: pos, ID: p.ID, Type: p.Type, Data: p.Data, Metadata: p.Metadata,
			Created: time.Unix(1700000000, 0).UTC()}
	}
	first := recorded(7, "hello")
	want, err := reg.Decode(first)
	require.NoError(t, err)
	a, err := d.Decode(first)
	require.NoError(t, err)
	require.Equal(t, want, a)
	b, err := d.Decode(first)
	require.NoError(t, err)
	require.Equal(t, want, b)
	la, lb := a.Payload.(domain.InboundMessageReceived).Labels, b.Payload.(domain.InboundMessageReceived).Labels
	require.Same(t, &la[0], &lb[0], "the second decode of one event is the first one's envelope")

	other := recorded(7, "another text at the same position")
	c, err := d.Decode(other)
	require.NoError(t, err)
	require.Equal(t, "another text at the same position", c.Payload.(domain.InboundMessageReceived).Text)
	require.Equal(t, other, c.Raw)
}

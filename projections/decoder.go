package projections

// Decoding the events of a batch once for every projector of a process.

import (
	"bytes"
	"sync"

	"github.com/socialops/socialops/domain"
)

// Decoder turns recorded events into envelopes: a *domain.Registry, or a
// SharedDecoder over one.
type Decoder interface {
	Knows(eventType string) bool
	Decode(ev domain.RecordedEvent) (domain.Envelope, error)
}

// sharedDecoderSize is how many decoded events a SharedDecoder keeps.
const sharedDecoderSize = 1024

// SharedDecoder decodes with a registry and keeps the latest envelopes by
// position, so the projectors of a runner, which all read the same events,
// decode each one once rather than once per projector (JSON decoding was a
// fifth of the process's CPU at 1,000 webhooks/s, issue 21). An envelope is
// reused only for the same bytes (id, type, data and metadata): a decode is
// a function of them. Projectors read payloads and never modify them, which
// sharing requires.
type SharedDecoder struct {
	registry *domain.Registry
	mu       sync.RWMutex
	slots    []domain.Envelope // the event at position p sits at p % size
}

// NewSharedDecoder returns a SharedDecoder over registry.
func NewSharedDecoder(registry *domain.Registry) *SharedDecoder {
	return &SharedDecoder{registry: registry, slots: make([]domain.Envelope, sharedDecoderSize)}
}

// Knows implements Decoder.
func (d *SharedDecoder) Knows(eventType string) bool { return d.registry.Knows(eventType) }

// Decode implements Decoder.
func (d *SharedDecoder) Decode(ev domain.RecordedEvent) (domain.Envelope, error) {
	i := ev.Position % sharedDecoderSize
	d.mu.RLock()
	env := d.slots[i]
	d.mu.RUnlock()
	if same(env.Raw, ev) {
		env.Raw = ev
		return env, nil
	}
	env, err := d.registry.Decode(ev)
	if err != nil {
		return env, err
	}
	d.mu.Lock()
	d.slots[i] = env
	d.mu.Unlock()
	return env, nil
}

func same(a, b domain.RecordedEvent) bool {
	return a.Position == b.Position && a.ID == b.ID && a.Type == b.Type && a.StreamID == b.StreamID &&
		a.Revision == b.Revision && a.Created.Equal(b.Created) && bytes.Equal(a.Data, b.Data) && bytes.Equal(a.Metadata, b.Metadata)
}

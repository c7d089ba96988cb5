package domain

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"time"
)

// Actor kinds: who caused an event.
const (
	ActorAPIKey   = "api_key"
	ActorUser     = "user"
	ActorProvider = "provider"
	ActorSystem   = "system"
)

// Actor is who caused an event.
type Actor struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
}

// Metadata travels with every event.
type Metadata struct {
	EventID       string    `json:"event_id"`
	SchemaVersion int       `json:"schema_version"`
	CorrelationID string    `json:"correlation_id,omitempty"`
	CausationID   string    `json:"causation_id,omitempty"`
	OwnerID       string    `json:"owner_id,omitempty"`
	InstanceAlias string    `json:"instance_alias,omitempty"`
	Actor         Actor     `json:"actor"`
	OccurredAt    time.Time `json:"occurred_at"`
}

// Event is a domain event payload. Every payload type is registered under a
// past-tense name and a schema version.
type Event interface {
	EventType() string
}

// Envelope is a decoded event with its metadata and log coordinates.
type Envelope struct {
	Type     string
	Version  int
	Metadata Metadata
	Payload  Event
	Raw      RecordedEvent // as read from the log (zero for events not yet appended)
}

// ErrUnknownEventType is returned when the log holds a type this build does not know.
var ErrUnknownEventType = errors.New("unknown event type")

// UnknownEventTypeError names the type that could not be decoded.
type UnknownEventTypeError struct {
	Type     string
	Position uint64
}

func (e *UnknownEventTypeError) Error() string {
	return fmt.Sprintf("unknown event type %q at position %d", e.Type, e.Position)
}
func (e *UnknownEventTypeError) Is(t error) bool { return t == ErrUnknownEventType }

type registration struct {
	version int
	typ     reflect.Type
}

// Registry maps event type names to payload types and their current schema version.
type Registry struct {
	mu    sync.RWMutex
	types map[string]registration
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{types: map[string]registration{}} }

// Register adds a payload type under its EventType name. The sample must be a
// struct value (not a pointer). Registering a name twice panics: it is a
// programming error caught at start-up.
func (r *Registry) Register(sample Event, version int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	name := sample.EventType()
	if _, dup := r.types[name]; dup {
		panic("domain: event type registered twice: " + name)
	}
	t := reflect.TypeOf(sample)
	if t.Kind() != reflect.Struct {
		panic("domain: event payload must be a struct value: " + name)
	}
	r.types[name] = registration{version: version, typ: t}
}

// Knows tells whether a type name is registered.
func (r *Registry) Knows(name string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.types[name]
	return ok
}

// Sample returns a zero payload of a registered type.
func (r *Registry) Sample(name string) (Event, bool) {
	r.mu.RLock()
	reg, ok := r.types[name]
	r.mu.RUnlock()
	if !ok {
		return nil, false
	}
	return reflect.New(reg.typ).Elem().Interface().(Event), true
}

// Types lists the registered names, sorted.
func (r *Registry) Types() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.types))
	for n := range r.types {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Encode turns a payload and its metadata into an event ready to append.
// The metadata's event id becomes the event's id; its schema version is set
// from the registry.
func (r *Registry) Encode(payload Event, meta Metadata) (ProposedEvent, error) {
	r.mu.RLock()
	reg, ok := r.types[payload.EventType()]
	r.mu.RUnlock()
	if !ok {
		return ProposedEvent{}, &UnknownEventTypeError{Type: payload.EventType()}
	}
	if meta.EventID == "" {
		return ProposedEvent{}, errors.New("domain: event metadata without event id")
	}
	meta.SchemaVersion = reg.version
	data, err := marshalCompact(payload)
	if err != nil {
		return ProposedEvent{}, fmt.Errorf("encode %s: %w", payload.EventType(), err)
	}
	md, err := marshalCompact(meta)
	if err != nil {
		return ProposedEvent{}, fmt.Errorf("encode metadata of %s: %w", payload.EventType(), err)
	}
	return ProposedEvent{ID: meta.EventID, Type: payload.EventType(), Data: data, Metadata: md}, nil
}

// marshalCompact is json.Marshal without HTML escaping: a provider payload
// full of <, > and & would otherwise grow up to six times on its way into an
// event, past what one append may carry (MaxAppendBytes).
func marshalCompact(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Decode turns a recorded event back into an envelope. An unknown type is an
// *UnknownEventTypeError naming it; malformed data is an error naming the
// position. Decode never panics on log content.
func (r *Registry) Decode(ev RecordedEvent) (Envelope, error) {
	r.mu.RLock()
	reg, ok := r.types[ev.Type]
	r.mu.RUnlock()
	if !ok {
		return Envelope{}, &UnknownEventTypeError{Type: ev.Type, Position: ev.Position}
	}
	var meta Metadata
	if len(ev.Metadata) > 0 {
		if err := json.Unmarshal(ev.Metadata, &meta); err != nil {
			return Envelope{}, fmt.Errorf("decode metadata of %s at position %d: %w", ev.Type, ev.Position, err)
		}
	}
	ptr := reflect.New(reg.typ)
	if err := json.Unmarshal(ev.Data, ptr.Interface()); err != nil {
		return Envelope{}, fmt.Errorf("decode %s at position %d: %w", ev.Type, ev.Position, err)
	}
	version := meta.SchemaVersion
	if version == 0 {
		version = reg.version
	}
	return Envelope{
		Type:     ev.Type,
		Version:  version,
		Metadata: meta,
		Payload:  ptr.Elem().Interface().(Event),
		Raw:      ev,
	}, nil
}

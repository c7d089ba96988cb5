package domain

import "time"

// Providers accepted on the webhook endpoint.
const (
	ProviderGenericWebhook = "generic-webhook"
	ProviderTelegram       = "telegram"
	ProviderGitHub         = "github"
)

// Message types of normalized messages.
const (
	MessageText     = "text"
	MessagePhoto    = "photo"
	MessageDocument = "document"
	MessageSticker  = "sticker"
	MessageVoice    = "voice"
	MessageAudio    = "audio"
	MessageVideo    = "video"
	MessageLocation = "location"
	MessageContact  = "contact"
	MessageCallback = "callback"
	MessageEvent    = "event" // a provider event that is not a chat message (GitHub, monitoring)
	MessageOther    = "other"
)

// Sender is who wrote an inbound message, as the provider names them.
type Sender struct {
	ExternalID  string `json:"external_id,omitempty"`
	DisplayName string `json:"display_name,omitempty"`
}

// InboundMessage is a provider delivery normalized by a provider adapter. The
// External* fields and ProviderEventID never appear in ordinary responses.
type InboundMessage struct {
	Provider          string    `json:"provider"`
	ProviderEventID   string    `json:"provider_event_id"`  // natural key for de-duplication
	Source            string    `json:"source,omitempty"`   // which bot or sender of the provider (see InboundEvent); "" by default
	ExternalThreadID  string    `json:"external_thread_id"` // the chat, issue, PR or workflow
	ExternalMessageID string    `json:"external_message_id,omitempty"`
	Subject           string    `json:"subject"` // thread subject proposed by this message
	MessageType       string    `json:"message_type"`
	Text              string    `json:"text"`
	Sender            Sender    `json:"sender"`
	Labels            []string  `json:"labels,omitempty"`
	OccurredAt        time.Time `json:"occurred_at,omitempty"` // provider's time, zero when it gives none
}

// InboundEvent names a provider event in its deduplication scope: a provider
// event is unique per (instance, provider, source), across all the instance's
// threads. Source is the webhook URL's optional source parameter, which the
// operator sets per sender whose event ids count on their own (each Telegram
// bot, whose update_id counts per bot); it is empty by default. The ids of an
// event without a source are those of the builds before sources existed, so a
// redelivery of an event stored by them still finds it.
type InboundEvent struct {
	InstanceID string
	Provider   string
	Source     string
	EventID    string
}

// InboundEventOf is the scope of a normalized delivery to an instance.
func InboundEventOf(instanceID string, m InboundMessage) InboundEvent {
	return InboundEvent{InstanceID: instanceID, Provider: m.Provider, Source: m.Source, EventID: m.ProviderEventID}
}

func (k InboundEvent) parts(extra ...string) []string {
	p := []string{k.InstanceID, k.Provider, k.EventID}
	if k.Source != "" {
		p = append(p, "source", k.Source)
	}
	return append(p, extra...)
}

// MessageID is the message the provider event becomes.
func (k InboundEvent) MessageID() string { return DerivedID(PrefixMessage, k.parts()...) }

// EventUUID is the id of an event the provider event causes, so a repeated
// append of it is stored once. extra distinguishes events of one type.
func (k InboundEvent) EventUUID(eventType string, extra ...string) string {
	return EventUUID(k.parts(append([]string{eventType}, extra...)...)...)
}

// ClaimStream names the stream holding the event's InboundEventClaimed.
func (k InboundEvent) ClaimStream() string { return "inbound-" + DerivedID("", k.parts()...) }

// threadKey is the key of the event in Thread.ProviderEvents: the event id
// alone without a source (as before sources existed). Provider event ids
// hold no control character (the normalizers refuse them), so the separator
// cannot be forged.
func threadKey(source, eventID string) string {
	if source == "" {
		return eventID
	}
	return source + "\x1f" + eventID
}

// InboundEventClaimed gives a provider event to one thread. It is the only
// event of the event's claim stream, appended with no-stream before the
// message is appended to its thread: a copy of the event naming another thread
// finds the claim and is answered as a duplicate of the original, so one
// provider event becomes one message whatever thread its copies name. Its id
// is derived from the event and the thread, so the claim repeated by a retry
// for the same thread (after a crash between the two appends) is stored once
// and lets the retry store the message.
type InboundEventClaimed struct {
	InstanceID      string `json:"instance_id"`
	Provider        string `json:"provider"`
	Source          string `json:"source,omitempty"`
	ProviderEventID string `json:"provider_event_id"`
	ThreadID        string `json:"thread_id"`
	MessageID       string `json:"message_id"`
}

func (InboundEventClaimed) EventType() string { return "InboundEventClaimed" }

// ClaimInbound is the claim of a provider event for a thread.
func ClaimInbound(k InboundEvent, threadID string) InboundEventClaimed {
	return InboundEventClaimed{InstanceID: k.InstanceID, Provider: k.Provider, Source: k.Source, ProviderEventID: k.EventID,
		ThreadID: threadID, MessageID: k.MessageID()}
}

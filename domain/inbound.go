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
	ExternalThreadID  string    `json:"external_thread_id"` // the chat, issue, PR or workflow
	ExternalMessageID string    `json:"external_message_id,omitempty"`
	Subject           string    `json:"subject"` // thread subject proposed by this message
	MessageType       string    `json:"message_type"`
	Text              string    `json:"text"`
	Sender            Sender    `json:"sender"`
	Labels            []string  `json:"labels,omitempty"`
	OccurredAt        time.Time `json:"occurred_at,omitempty"` // provider's time, zero when it gives none
}

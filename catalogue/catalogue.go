// Package catalogue is SocialOps' one public event catalogue (ARCHITECTURE.md
// "Followers"): it maps domain events, once, to the public JSON that outbound
// webhooks, bot pushes and the WebSocket all send:
//
//	{"event": "message.received", "timestamp": <unix seconds>, "id": "evt_…", "data": {…}}
//
// The mapping is pure (no I/O): the data carries SocialOps ids and the text
// people wrote, never a provider's raw payload, external ids or secrets.
package catalogue

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"

	"github.com/socialops/socialops/domain"
)

// Public event names.
const (
	ConversationCreated       = "conversation.created"
	ConversationStatusChanged = "conversation.status_changed"
	ConversationAssigned      = "conversation.assigned"
	MessageReceived           = "message.received"
	MessageSent               = "message.sent"
	MessageFailed             = "message.failed"
	MessageEdited             = "message.edited"
	MessageRetracted          = "message.retracted"
	NoteCreated               = "note.created"
	OrderUpdated              = "order.updated"
	TicketCreated             = "ticket.created"
	TicketStatusChanged       = "ticket.status_changed"
	// AgentStatusChanged is an operator's presence (online, away, offline)
	// or status (active, inactive, deleted) changing.
	AgentStatusChanged = "agent.status_changed"
	// StatisticsDaily is an instance's figures of its last ended local day.
	StatisticsDaily = "statistics.daily"
	// SubscriptionDisabled tells an instance's other subscriptions that a
	// webhook subscription was disabled after failing for too long.
	SubscriptionDisabled = "subscription.disabled"
	// WebhookTest is sent only by "send a test event", whatever a
	// subscription's filter; it cannot be subscribed to.
	WebhookTest = "webhook.test"
)

// Description of every subscribable name, for documentation and validation.
var descriptions = map[string]string{
	ConversationCreated:       "a conversation (thread) was opened by its first inbound message",
	ConversationStatusChanged: "a conversation's status changed (open, pending, resolved, archived)",
	ConversationAssigned:      "a conversation was assigned to an agent, or unassigned",
	MessageReceived:           "an inbound message was accepted",
	MessageSent:               "an outbound reply was delivered to the provider",
	MessageFailed:             "an outbound reply could not be delivered",
	MessageEdited:             "an outbound message was edited (through the integration API)",
	MessageRetracted:          "an outbound message was retracted (through the integration API)",
	NoteCreated:               "an internal note was added to a conversation",
	OrderUpdated:              "an order from the order system was stored or changed",
	TicketCreated:             "a ticket was opened for a conversation or a customer",
	TicketStatusChanged:       "a ticket's status (or handler) changed, as the ticket system reported it",
	AgentStatusChanged:        "an operator's presence (online, away, offline) or status (active, inactive, deleted) changed",
	SubscriptionDisabled:      "a webhook subscription of the instance was disabled after failing continuously",
	StatisticsDaily:           "the instance's figures of the local day that just ended (conversations and messages, README \"Reports\")",
}

// Names lists the subscribable event names, sorted.
func Names() []string {
	out := make([]string, 0, len(descriptions))
	for n := range descriptions {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Known tells whether name can be subscribed to.
func Known(name string) bool { _, ok := descriptions[name]; return ok }

// Describe returns a name's one-line description ("" when unknown).
func Describe(name string) string { return descriptions[name] }

// IsMessage tells whether an event is a message.* event (it gets the longer
// delivery timeout: seed 001 gives message pushes 30 s).
func IsMessage(name string) bool { return strings.HasPrefix(name, "message.") }

// Event is the public JSON of one event. Field order is the wire order.
type Event struct {
	Event     string `json:"event"`
	Timestamp int64  `json:"timestamp"`
	ID        string `json:"id"`
	Data      any    `json:"data"`
}

// Mapped is a public event with what routes it to subscribers: the thread it
// concerns (its instance is that of the thread) and, when the domain event
// names them, the instance's id or alias.
type Mapped struct {
	Event         Event
	ThreadID      string
	InstanceID    string
	InstanceAlias string
}

// EventID is the public id of a domain event: stable, so every consumer
// (and every retry) names one event the same way.
func EventID(domainEventID string) string {
	return "evt_" + strings.ReplaceAll(domainEventID, "-", "")
}

// Data shapes, one per public event.
type (
	ConversationCreatedData struct {
		ConversationID string   `json:"conversation_id"`
		Instance       string   `json:"instance,omitempty"`
		Provider       string   `json:"provider"`
		Subject        string   `json:"subject"`
		Status         string   `json:"status"`
		Priority       string   `json:"priority"`
		Labels         []string `json:"labels"`
	}
	MessageReceivedData struct {
		MessageID      string  `json:"message_id"`
		ConversationID string  `json:"conversation_id"`
		Provider       string  `json:"provider"`
		MessageType    string  `json:"message_type"`
		Subject        string  `json:"subject,omitempty"`
		Content        string  `json:"content"`
		Sender         *Sender `json:"sender,omitempty"`
	}
	Sender struct {
		DisplayName string `json:"display_name"`
	}
	MessageSentData struct {
		MessageID      string `json:"message_id"`
		ConversationID string `json:"conversation_id"`
		ActionID       string `json:"action_id"`
		Attempts       int    `json:"attempts"`
	}
	MessageFailedData struct {
		MessageID      string `json:"message_id"`
		ConversationID string `json:"conversation_id"`
		ActionID       string `json:"action_id"`
		ErrorCode      string `json:"error_code"`
		ErrorMessage   string `json:"error_message"`
		Attempts       int    `json:"attempts"`
	}
	MessageEditedData struct {
		MessageID      string `json:"message_id"`
		ConversationID string `json:"conversation_id"`
		Content        string `json:"content"`
		Propagation    string `json:"propagation"`
	}
	MessageRetractedData struct {
		MessageID      string `json:"message_id"`
		ConversationID string `json:"conversation_id"`
		Propagation    string `json:"propagation"`
	}
	OrderData struct {
		OrderID    string `json:"order_id"`
		CustomerID string `json:"customer_id"`
		Amount     int64  `json:"amount"`
		Currency   string `json:"currency"`
		Status     string `json:"status"`
		CreateTime int64  `json:"create_time"`
	}
	TicketData struct {
		TicketID       string `json:"ticket_id"`
		ConversationID string `json:"conversation_id,omitempty"`
		ContactID      string `json:"contact_id,omitempty"`
		CustomerID     string `json:"customer_id,omitempty"`
		Title          string `json:"title"`
		Content        string `json:"content"`
		Priority       string `json:"priority"`
		Category       string `json:"category"`
		Status         string `json:"status"`
	}
	TicketStatusData struct {
		TicketID       string `json:"ticket_id"`
		ConversationID string `json:"conversation_id,omitempty"`
		From           string `json:"from"`
		Status         string `json:"status"`
		Handler        string `json:"handler"`
		UpdateTime     int64  `json:"update_time"`
	}
	NoteCreatedData struct {
		NoteID         string `json:"note_id"`
		ConversationID string `json:"conversation_id"`
		Content        string `json:"content"`
		AuthorID       string `json:"author_id"`
	}
	StatusChangedData struct {
		ConversationID string `json:"conversation_id"`
		From           string `json:"from"`
		To             string `json:"to"`
	}
	AssignedData struct {
		ConversationID  string `json:"conversation_id"`
		AgentID         string `json:"agent_id"`          // "" when unassigned
		PreviousAgentID string `json:"previous_agent_id"` // "" when it had none
	}
	AgentStatusData struct {
		AgentID string `json:"agent_id"`
		Status  string `json:"status"`
	}
	SubscriptionDisabledData struct {
		SubscriptionID string `json:"subscription_id"`
		Reason         string `json:"reason"`
		FailingSince   string `json:"failing_since"` // RFC 3339
	}
	StatisticsDailyData struct {
		Date         string             `json:"date"`
		TimeZone     string             `json:"time_zone"`
		Conversation map[string]float64 `json:"conversation"`
		Message      map[string]float64 `json:"message"`
	}
	TestData struct {
		SubscriptionID string `json:"subscription_id"`
		Message        string `json:"message"`
	}
)

// Map turns a decoded domain event into its public event; ok is false for
// the events the catalogue does not publish (charges, claims, delivery steps…).
func Map(env domain.Envelope) (m Mapped, ok bool) {
	ev := Event{ID: EventID(env.Metadata.EventID), Timestamp: env.Metadata.OccurredAt.Unix()}
	if env.Metadata.EventID == "" {
		ev.ID = EventID(env.Raw.ID)
	}
	if env.Metadata.OccurredAt.IsZero() {
		ev.Timestamp = env.Raw.Created.Unix()
	}
	m.InstanceAlias = env.Metadata.InstanceAlias
	switch p := env.Payload.(type) {
	case domain.ThreadOpened:
		ev.Event = ConversationCreated
		labels := p.Labels
		if labels == nil {
			labels = []string{}
		}
		ev.Data = ConversationCreatedData{ConversationID: p.ThreadID, Instance: p.InstanceAlias, Provider: p.Provider,
			Subject: p.Subject, Status: p.Status, Priority: p.Priority, Labels: labels}
		m.ThreadID, m.InstanceID, m.InstanceAlias = p.ThreadID, p.InstanceID, p.InstanceAlias
	case domain.InboundMessageReceived:
		ev.Event = MessageReceived
		d := MessageReceivedData{MessageID: p.MessageID, ConversationID: p.ThreadID, Provider: p.Provider,
			MessageType: p.MessageType, Subject: p.Subject, Content: p.Text}
		if p.Sender.DisplayName != "" {
			d.Sender = &Sender{DisplayName: p.Sender.DisplayName}
		}
		ev.Data = d
		m.ThreadID = p.ThreadID
	case domain.ReplyDelivered:
		ev.Event = MessageSent
		ev.Data = MessageSentData{MessageID: p.MessageID, ConversationID: p.ThreadID, ActionID: p.ActionID, Attempts: p.Attempts}
		m.ThreadID = p.ThreadID
	case domain.ReplyDeliveryFailed:
		ev.Event = MessageFailed
		ev.Data = MessageFailedData{MessageID: p.MessageID, ConversationID: p.ThreadID, ActionID: p.ActionID,
			ErrorCode: p.ErrorCode, ErrorMessage: p.ErrorMessage, Attempts: p.Attempts}
		m.ThreadID = p.ThreadID
	case domain.MessageEdited:
		ev.Event = MessageEdited
		ev.Data = MessageEditedData{MessageID: p.MessageID, ConversationID: p.ThreadID, Content: p.To, Propagation: p.Propagation}
		m.ThreadID = p.ThreadID
	case domain.MessageRetracted:
		ev.Event = MessageRetracted
		ev.Data = MessageRetractedData{MessageID: p.MessageID, ConversationID: p.ThreadID, Propagation: p.Propagation}
		m.ThreadID = p.ThreadID
	case domain.OrderUpserted:
		ev.Event = OrderUpdated
		ev.Data = OrderData{OrderID: p.OrderID, CustomerID: p.CustomerID, Amount: p.Amount, Currency: p.Currency, Status: p.Status,
			CreateTime: p.CreateTime.Unix()}
		m.InstanceID = p.InstanceID
	case domain.TicketCreated:
		ev.Event = TicketCreated
		ev.Data = TicketData{TicketID: p.TicketID, ConversationID: p.ThreadID, ContactID: p.ContactID, CustomerID: p.CustomerID,
			Title: p.Title, Content: p.Content, Priority: p.Priority, Category: p.Category, Status: p.Status}
		m.InstanceID = p.InstanceID
	case domain.TicketStatusChanged:
		ev.Event = TicketStatusChanged
		ev.Data = TicketStatusData{TicketID: p.TicketID, ConversationID: p.ThreadID, From: p.From, Status: p.To, Handler: p.Handler,
			UpdateTime: p.UpdateTime.Unix()}
		m.InstanceID = p.InstanceID
	case domain.NoteAdded:
		ev.Event = NoteCreated
		ev.Data = NoteCreatedData{NoteID: p.MessageID, ConversationID: p.ThreadID, Content: p.Text, AuthorID: p.AuthorID}
		m.ThreadID = p.ThreadID
	case domain.ThreadStatusChanged:
		ev.Event = ConversationStatusChanged
		ev.Data = StatusChangedData{ConversationID: p.ThreadID, From: p.From, To: p.To}
		m.ThreadID = p.ThreadID
	case domain.ThreadAssigned:
		ev.Event = ConversationAssigned
		ev.Data = AssignedData{ConversationID: p.ThreadID, AgentID: p.To, PreviousAgentID: p.From}
		m.ThreadID = p.ThreadID
	// Sessions need no names of their own: every assignment, accept and
	// requeue appends ThreadAssigned, every close or reopen that changes the
	// thread's status ThreadStatusChanged (mapped above).
	case domain.OperatorPresenceChanged:
		ev.Event = AgentStatusChanged
		ev.Data = AgentStatusData{AgentID: strconv.FormatInt(p.OperatorID, 10), Status: p.To}
		m.InstanceID = p.InstanceID
	case domain.OperatorStatusChanged:
		ev.Event = AgentStatusChanged
		ev.Data = AgentStatusData{AgentID: strconv.FormatInt(p.OperatorID, 10), Status: operatorStatusNames[p.To]}
		m.InstanceID = p.InstanceID
	case domain.WebhookSubscriptionDisabled:
		ev.Event = SubscriptionDisabled
		ev.Data = SubscriptionDisabledData{SubscriptionID: p.SubscriptionID, Reason: p.Reason, FailingSince: p.FailingSince}
		m.InstanceID = p.InstanceID
	case domain.DailyStatisticsCompiled:
		ev.Event = StatisticsDaily
		ev.Data = StatisticsDailyData{Date: p.Date, TimeZone: p.TimeZone, Conversation: p.Conversation, Message: p.Message}
		m.InstanceID, m.InstanceAlias = p.InstanceID, p.InstanceAlias
	default:
		return Mapped{}, false
	}
	m.Event = ev
	return m, true
}

var operatorStatusNames = map[int]string{domain.OperatorActive: "active", domain.OperatorInactive: "inactive", domain.OperatorDeleted: "deleted"}

// Encode is the public JSON of an event, without HTML escaping (a message's
// <, > and & stay as written).
func Encode(ev Event) ([]byte, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ev); err != nil {
		return nil, err
	}
	return []byte(strings.TrimSuffix(b.String(), "\n")), nil
}

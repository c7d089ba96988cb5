package domain

import (
	"encoding/json"
	"maps"
	"strings"
	"time"
)

// Thread statuses and priorities (seed 000).
const (
	StatusOpen     = "open"
	StatusPending  = "pending"
	StatusResolved = "resolved"
	StatusArchived = "archived"

	PriorityLow    = "low"
	PriorityNormal = "normal"
	PriorityHigh   = "high"
	PriorityUrgent = "urgent"
)

// Statuses and Priorities list the valid values in display order.
var (
	Statuses   = []string{StatusOpen, StatusPending, StatusResolved, StatusArchived}
	Priorities = []string{PriorityLow, PriorityNormal, PriorityHigh, PriorityUrgent}
)

// ValidStatus and ValidPriority check a value against the lists above.
func ValidStatus(s string) bool   { return contains(Statuses, s) }
func ValidPriority(p string) bool { return contains(Priorities, p) }

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// InboundMessageFeeMicroUSD is what one accepted inbound message costs (0.0002 USD).
const InboundMessageFeeMicroUSD int64 = 200

// ThreadStream names the stream of a thread.
func ThreadStream(threadID string) string { return "thread-" + threadID }

// ThreadOpened starts a thread. It is appended together with the first message.
type ThreadOpened struct {
	ThreadID         string   `json:"thread_id"`
	InstanceID       string   `json:"instance_id"`
	OwnerID          string   `json:"owner_id"`
	InstanceAlias    string   `json:"instance_alias"`
	Provider         string   `json:"provider"`
	ExternalThreadID string   `json:"external_thread_id"`
	Subject          string   `json:"subject"`
	Status           string   `json:"status"`
	Priority         string   `json:"priority"`
	Labels           []string `json:"labels"`
	ContactID        string   `json:"contact_id,omitempty"` // the session's customer (the first sender)
}

func (ThreadOpened) EventType() string { return "ThreadOpened" }

// InboundMessageReceived is an accepted provider delivery. RawPayload is kept
// for audit only and never shown by ordinary endpoints.
type InboundMessageReceived struct {
	ThreadID          string          `json:"thread_id"`
	MessageID         string          `json:"message_id"`
	Provider          string          `json:"provider"`
	ProviderEventID   string          `json:"provider_event_id"`
	Source            string          `json:"source,omitempty"`
	ExternalMessageID string          `json:"external_message_id,omitempty"`
	MessageType       string          `json:"message_type"`
	Subject           string          `json:"subject"`
	Text              string          `json:"text"`
	Sender            Sender          `json:"sender"`
	ContactID         string          `json:"contact_id,omitempty"`
	Labels            []string        `json:"labels,omitempty"`
	ProviderTime      *time.Time      `json:"provider_time,omitempty"`
	RawPayload        json.RawMessage `json:"raw_payload,omitempty"`
}

func (InboundMessageReceived) EventType() string { return "InboundMessageReceived" }

// Charge reasons.
const (
	ChargeInboundMessage = "inbound_message"
	ChargeReplyDelivery  = "reply_delivery"
)

// ChargeApplied takes money from an owner's wallet. An inbound message's
// charge is appended in the same append as the message, so a message is never
// stored without its charge nor charged twice.
type ChargeApplied struct {
	ChargeID       string `json:"charge_id"`
	OwnerID        string `json:"owner_id"`
	AmountMicroUSD int64  `json:"amount_micro_usd"`
	Reason         string `json:"reason"`
	ThreadID       string `json:"thread_id,omitempty"`
	MessageID      string `json:"message_id,omitempty"`
	ActionID       string `json:"action_id,omitempty"`
}

func (ChargeApplied) EventType() string { return "ChargeApplied" }

// Thread is the state of a thread aggregate, folded from its stream.
type Thread struct {
	ID               string
	Version          int64 // revision of the last event; -1 for a thread not yet opened
	InstanceID       string
	OwnerID          string
	InstanceAlias    string
	Provider         string
	ExternalThreadID string
	Status           string
	Priority         string
	Assignee         string
	// Session is the session state (seed 003), "" before sessions existed
	// (see SessionStatus); SessionOperator the operator holding it.
	Session         string
	SessionOperator int64
	SessionRevision int64 // the thread revision of the last session event
	ContactID       string
	// ProviderEvents maps each accepted provider event (its id, with its
	// source when it has one) to the message it became.
	ProviderEvents AcceptedEvents
	// Replies holds the queued replies by message id.
	Replies map[string]ReplyQueued
	// repliesShared says Replies is another state's too (Forked): it is
	// copied before its first change here.
	repliesShared bool
	// lastInbound is the provider event of the last message folded in: its
	// charge, appended right after it, gives the append's position.
	lastInbound string
}

// ThreadSnapshotVersion names the shape of Thread in stored snapshots; bump it
// when the fields change and old snapshots are ignored.
const ThreadSnapshotVersion = 2

// AcceptedEvent is where an accepted provider event landed: Position is that
// of the last event of its append (its charge), as a fresh append reports.
type AcceptedEvent struct {
	MessageID string
	Position  uint64
}

// NewThread is the state before the first event.
func NewThread(id string) Thread {
	return Thread{ID: id, Version: -1, Replies: map[string]ReplyQueued{}}
}

// WithMaps returns the state with its maps allocated (a decoded snapshot may lack them).
func (t Thread) WithMaps() Thread {
	if t.Replies == nil {
		t.Replies = map[string]ReplyQueued{}
	}
	return t
}

// Forked returns the state for folding further events into while t stays
// as it is (t may be shared, as in the commands' thread cache). It copies
// only what is small: the recent provider events; the replies are copied
// when an event changes them.
func (t Thread) Forked() Thread {
	t = t.WithMaps()
	t.ProviderEvents = t.ProviderEvents.fork()
	t.repliesShared = true
	return t
}

// ownReplies makes t.Replies t's own before a change.
func (t *Thread) ownReplies() {
	if t.repliesShared {
		t.Replies = maps.Clone(t.Replies)
		t.repliesShared = false
	}
}

// Exists tells whether the thread has been opened.
func (t Thread) Exists() bool { return t.Version >= 0 }

// EvolveThread applies one event to the state.
func EvolveThread(t Thread, env Envelope) Thread {
	switch e := env.Payload.(type) {
	case ThreadOpened:
		t.InstanceID, t.OwnerID, t.InstanceAlias = e.InstanceID, e.OwnerID, e.InstanceAlias
		t.Provider, t.ExternalThreadID = e.Provider, e.ExternalThreadID
		t.Status, t.Priority = e.Status, e.Priority
		t.ContactID = e.ContactID
	case InboundMessageReceived:
		key := threadKey(e.Source, e.ProviderEventID)
		t.ProviderEvents.set(key, AcceptedEvent{MessageID: e.MessageID, Position: env.Raw.Position})
		t.lastInbound = key
	case ReplyQueued:
		t.ownReplies()
		t.Replies[e.MessageID] = e
	case MessageEdited:
		if r, ok := t.Replies[e.MessageID]; ok {
			r.Text = e.To
			t.ownReplies()
			t.Replies[e.MessageID] = r
		}
	case MessageRetracted:
		if r, ok := t.Replies[e.MessageID]; ok {
			r.Retracted = true
			t.ownReplies()
			t.Replies[e.MessageID] = r
		}
	case ThreadStatusChanged:
		t.Status = e.To
	case ThreadPriorityChanged:
		t.Priority = e.To
	case ThreadAssigned:
		t.Assignee = e.To
	default:
		t = evolveSession(t, env)
	case ChargeApplied:
		if acc, ok := t.ProviderEvents.Get(t.lastInbound); ok && acc.MessageID == e.MessageID {
			t.ProviderEvents.set(t.lastInbound, AcceptedEvent{MessageID: e.MessageID, Position: env.Raw.Position})
		}
	}
	t.Version = int64(env.Raw.Revision)
	return t
}

// Instance is a SocialOps service instance as commands see it.
type Instance struct {
	ID      string
	Alias   string
	OwnerID string
}

// ReceiveInbound asks to accept a normalized provider delivery.
type ReceiveInbound struct {
	Instance    Instance
	Message     InboundMessage
	RawPayload  json.RawMessage
	FeeMicroUSD int64
	// Bot is the instance's bot that answers first, if it has one.
	Bot BotFirst
}

// InboundOutcome says what became of a delivery.
type InboundOutcome struct {
	ThreadID  string
	MessageID string
	Duplicate bool
	Position  uint64 // of the original message when Duplicate
}

// InboundThreadID is the thread a delivery belongs to: derived from the
// instance and the provider's own thread key, so every delivery of one chat,
// issue or workflow lands in one thread without a lookup table.
func InboundThreadID(instanceID, provider, externalThreadID string) string {
	return DerivedID(PrefixThread, instanceID, provider, externalThreadID)
}

// InboundMessageID is the message a provider event without a source becomes
// (InboundEvent.MessageID in general).
func InboundMessageID(instanceID, provider, providerEventID string) string {
	return InboundEvent{InstanceID: instanceID, Provider: provider, EventID: providerEventID}.MessageID()
}

// AcceptedInbound is where the thread holds a provider event, if it does.
func (t Thread) AcceptedInbound(k InboundEvent) (AcceptedEvent, bool) {
	return t.ProviderEvents.Get(threadKey(k.Source, k.EventID))
}

// DecideInbound returns the events that accept a delivery: the thread's
// opening (first message only), the message, and its charge. A provider event
// already accepted returns no events and the original ids.
func DecideInbound(t Thread, cmd ReceiveInbound) ([]Event, InboundOutcome) {
	m := cmd.Message
	ref := InboundEventOf(cmd.Instance.ID, m)
	if prev, dup := t.AcceptedInbound(ref); dup {
		return nil, InboundOutcome{ThreadID: t.ID, MessageID: prev.MessageID, Duplicate: true, Position: prev.Position}
	}
	msgID := ref.MessageID()
	contactID := ContactID(cmd.Instance.ID, m.Provider, m.Sender, m.ExternalThreadID)
	var events []Event
	session := sessionOnInbound(t, cmd.Instance.ID, cmd.Bot, m.Text)
	if !t.Exists() {
		events = append(events, ThreadOpened{
			ThreadID:         t.ID,
			InstanceID:       cmd.Instance.ID,
			OwnerID:          cmd.Instance.OwnerID,
			InstanceAlias:    cmd.Instance.Alias,
			Provider:         m.Provider,
			ExternalThreadID: m.ExternalThreadID,
			Subject:          m.Subject,
			Status:           StatusOpen,
			Priority:         PriorityFromLabels(m.Labels),
			Labels:           m.Labels,
			ContactID:        contactID,
		})
	}
	// Session events go before the message: the charge stays the append's
	// last event, whose position a duplicate answers.
	events = append(events, session...)
	var providerTime *time.Time
	if !m.OccurredAt.IsZero() {
		pt := m.OccurredAt.UTC()
		providerTime = &pt
	}
	events = append(events,
		InboundMessageReceived{
			ThreadID:          t.ID,
			MessageID:         msgID,
			Provider:          m.Provider,
			ProviderEventID:   m.ProviderEventID,
			Source:            m.Source,
			ExternalMessageID: m.ExternalMessageID,
			MessageType:       m.MessageType,
			Subject:           m.Subject,
			Text:              m.Text,
			Sender:            m.Sender,
			ContactID:         contactID,
			Labels:            m.Labels,
			ProviderTime:      providerTime,
			RawPayload:        cmd.RawPayload,
		},
		ChargeApplied{
			ChargeID:       DerivedID(PrefixCharge, msgID),
			OwnerID:        cmd.Instance.OwnerID,
			AmountMicroUSD: cmd.FeeMicroUSD,
			Reason:         ChargeInboundMessage,
			ThreadID:       t.ID,
			MessageID:      msgID,
		},
	)
	return events, InboundOutcome{ThreadID: t.ID, MessageID: msgID}
}

// PriorityFromLabels gives a new thread the highest priority named by its
// labels ("urgent", "high", "low"), else normal.
func PriorityFromLabels(labels []string) string {
	best := PriorityNormal
	rank := map[string]int{PriorityLow: 0, PriorityNormal: 1, PriorityHigh: 2, PriorityUrgent: 3}
	sawLow := false
	for _, l := range labels {
		switch p := strings.ToLower(strings.TrimSpace(l)); p {
		case PriorityUrgent, PriorityHigh:
			if rank[p] > rank[best] {
				best = p
			}
		case PriorityLow:
			sawLow = true
		}
	}
	if best == PriorityNormal && sawLow {
		return PriorityLow
	}
	return best
}

// ThreadStatusChanged moves a thread between open, pending, resolved and archived.
type ThreadStatusChanged struct {
	ThreadID string `json:"thread_id"`
	From     string `json:"from"`
	To       string `json:"to"`
}

func (ThreadStatusChanged) EventType() string { return "ThreadStatusChanged" }

// ThreadPriorityChanged sets a thread's priority.
type ThreadPriorityChanged struct {
	ThreadID string `json:"thread_id"`
	From     string `json:"from"`
	To       string `json:"to"`
}

func (ThreadPriorityChanged) EventType() string { return "ThreadPriorityChanged" }

// ThreadAssigned sets or clears (To == "") a thread's assignee.
type ThreadAssigned struct {
	ThreadID string `json:"thread_id"`
	From     string `json:"from"`
	To       string `json:"to"`
}

func (ThreadAssigned) EventType() string { return "ThreadAssigned" }

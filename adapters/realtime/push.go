package realtime

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/socialops/socialops/domain"
)

// Protocols a connection speaks.
const (
	// ProtocolCS is seed 003's workbench protocol (/ws/cs/{csId}).
	ProtocolCS = "cs"
	// ProtocolEvents is seed 002's protocol (/ws): message and event frames.
	ProtocolEvents = "events"
	// ProtocolConsole is the web console's protocol: a "changed" frame for
	// every event of a thread of the instance, so the page refetches what it
	// shows (at that position) instead of mirroring every event's shape.
	ProtocolConsole = "console"
)

// ConsoleChange is the console protocol's frame: the thread an event changed,
// the event's type and its log position (send it as X-SocialOps-Position to
// read the change).
type ConsoleChange struct {
	Type     string `json:"type"` // "changed"
	Position uint64 `json:"position"`
	ThreadID string `json:"thread_id"`
	Event    string `json:"event"`
}

// Seed-003 push types.
const (
	TypeNewMessage        = "new_message"
	TypeNewPendingSession = "new_pending_session"
	TypeSessionAccepted   = "session_accepted"
	TypeSessionClosed     = "session_closed"
)

// CSPush is a seed-003 push. Position is the log position it came from.
type CSPush struct {
	Type      string `json:"type"`
	Position  uint64 `json:"position"`
	SessionID string `json:"sessionId"`
	Data      any    `json:"data"`
}

// CSMessage is the data of new_message (seed 003 MessageInfo).
type CSMessage struct {
	MsgID      string `json:"msgId"`
	SessionID  string `json:"sessionId"`
	Content    string `json:"content"`
	SenderType string `json:"senderType"`
	SenderID   string `json:"senderId,omitempty"`
	MsgType    string `json:"msgType"`
	CreatedAt  string `json:"createdAt"`
}

// CSSession is the data of the session pushes (seed 003 SessionInfo).
type CSSession struct {
	SessionID   string `json:"sessionId"`
	CustomerID  string `json:"customerId"`
	Status      string `json:"status"`
	ChannelType string `json:"channelType,omitempty"`
	ManualCsID  string `json:"manualCsId,omitempty"`
	UpdatedAt   string `json:"updatedAt"`
}

// EventsPush is a seed-002 frame: {"type":"message"|"event","action",…,"data"}.
type EventsPush struct {
	Type     string `json:"type"`
	Action   string `json:"action"`
	Position uint64 `json:"position"`
	Data     any    `json:"data"`
}

// EventsMessage is the data of a seed-002 message frame.
type EventsMessage struct {
	From           string `json:"from"`
	To             string `json:"to"`
	Content        string `json:"content"`
	Timestamp      int64  `json:"timestamp"`
	MessageID      string `json:"message_id"`
	ConversationID string `json:"conversation_id"`
}

// EventsStatus is the data of a seed-002 status_change event.
type EventsStatus struct {
	AgentID   string `json:"agent_id"`
	Status    string `json:"status"`
	Timestamp int64  `json:"timestamp"`
}

// Control frames (no position of an event, but the position they refer to).
type control struct {
	Type     string `json:"type"`
	Position uint64 `json:"position"`
	Reason   string `json:"reason,omitempty"`
}

// threadFacts is what routing a thread's events needs.
type threadFacts struct {
	InstanceID    string
	InstanceAlias string
	Holder        int64 // the operator holding the session, 0 when none
	CustomerID    string
	Provider      string
}

// item is one log event ready for fan-out: where it belongs and its frames.
type item struct {
	Position      uint64
	InstanceID    string
	InstanceAlias string
	ThreadID      string
	// Holder is the operator a session push concerns (assigned, accepted,
	// closed) or who holds the thread of a message; 0 when none.
	Holder int64
	// Broadcast: every workbench of the instance gets it (new pending sessions).
	Broadcast bool
	CS        []byte // seed-003 frame, nil when the event has none
	Events    []byte // seed-002 frame, nil when the event has none
	Console   []byte // console frame, nil when the event concerns no thread
}

func (it *item) instanceIs(id, alias string) bool {
	if it.InstanceID != "" {
		return it.InstanceID == id
	}
	return it.InstanceAlias != "" && it.InstanceAlias == alias
}

// msgTypes maps message types to seed-003 msgType values.
func msgType(t string) string {
	switch t {
	case "image", "file", "event":
		return t
	}
	return "text"
}

func encode(v any) []byte {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil
	}
	return []byte(strings.TrimSuffix(b.String(), "\n"))
}

func operatorRef(id int64) string {
	if id == 0 {
		return ""
	}
	return strconv.FormatInt(id, 10)
}

func occurred(env domain.Envelope) time.Time {
	if !env.Metadata.OccurredAt.IsZero() {
		return env.Metadata.OccurredAt
	}
	return env.Raw.Created
}

// build turns a decoded event into an item; ok is false for events no
// client is pushed. facts are the thread's (zero for non-thread events).
func build(env domain.Envelope, facts threadFacts) (it item, ok bool) {
	at := occurred(env).UTC()
	it = item{Position: env.Raw.Position, InstanceID: facts.InstanceID, InstanceAlias: facts.InstanceAlias, Holder: facts.Holder}
	if it.InstanceAlias == "" {
		it.InstanceAlias = env.Metadata.InstanceAlias
	}
	session := func(threadID, status string, holder int64) CSSession {
		s := CSSession{SessionID: threadID, CustomerID: facts.CustomerID, Status: status, ManualCsID: operatorRef(holder),
			UpdatedAt: at.Format(time.RFC3339)}
		if s.CustomerID == "" {
			s.CustomerID = threadID
		}
		s.ChannelType = facts.Provider // as the seed-003 face answers it
		return s
	}
	switch p := env.Payload.(type) {
	case domain.InboundMessageReceived:
		it.ThreadID = p.ThreadID
		sender := p.ContactID
		if sender == "" {
			sender = facts.CustomerID
		}
		content := p.Text
		if content == "" {
			content = "[" + msgType(p.MessageType) + "]"
		}
		it.CS = encode(CSPush{Type: TypeNewMessage, Position: it.Position, SessionID: p.ThreadID, Data: CSMessage{
			MsgID: p.MessageID, SessionID: p.ThreadID, Content: content, SenderType: "customer", SenderID: sender,
			MsgType: msgType(p.MessageType), CreatedAt: at.Format(time.RFC3339)}})
		it.Events = encode(EventsPush{Type: "message", Action: "receive", Position: it.Position, Data: EventsMessage{
			From: sender, To: operatorRef(facts.Holder), Content: p.Text, Timestamp: at.Unix(), MessageID: p.MessageID, ConversationID: p.ThreadID}})
	case domain.ReplyQueued:
		it.ThreadID = p.ThreadID
		if it.InstanceID == "" {
			it.InstanceID = p.InstanceID
		}
		content := p.Text
		if content == "" {
			content = "[text]"
		}
		it.CS = encode(CSPush{Type: TypeNewMessage, Position: it.Position, SessionID: p.ThreadID, Data: CSMessage{
			MsgID: p.MessageID, SessionID: p.ThreadID, Content: content, SenderType: "manual", SenderID: p.AuthorID,
			MsgType: "text", CreatedAt: at.Format(time.RFC3339)}})
		it.Events = encode(EventsPush{Type: "message", Action: "send", Position: it.Position, Data: EventsMessage{
			From: p.AuthorID, To: facts.CustomerID, Content: p.Text, Timestamp: at.Unix(), MessageID: p.MessageID, ConversationID: p.ThreadID}})
	case domain.SessionQueued:
		it.ThreadID, it.InstanceID, it.Broadcast, it.Holder = p.ThreadID, p.InstanceID, true, 0
		it.CS = encode(CSPush{Type: TypeNewPendingSession, Position: it.Position, SessionID: p.ThreadID, Data: session(p.ThreadID, domain.StatePending, 0)})
	case domain.SessionReopened:
		it.ThreadID, it.InstanceID, it.Broadcast, it.Holder = p.ThreadID, p.InstanceID, true, 0
		it.CS = encode(CSPush{Type: TypeNewPendingSession, Position: it.Position, SessionID: p.ThreadID, Data: session(p.ThreadID, domain.StatePending, 0)})
	case domain.SessionAssigned:
		it.ThreadID, it.InstanceID, it.Holder = p.ThreadID, p.InstanceID, p.OperatorID
		it.CS = encode(CSPush{Type: TypeSessionAccepted, Position: it.Position, SessionID: p.ThreadID, Data: session(p.ThreadID, domain.StateManual, p.OperatorID)})
	case domain.SessionAccepted:
		it.ThreadID, it.InstanceID, it.Holder = p.ThreadID, p.InstanceID, p.OperatorID
		it.CS = encode(CSPush{Type: TypeSessionAccepted, Position: it.Position, SessionID: p.ThreadID, Data: session(p.ThreadID, domain.StateManual, p.OperatorID)})
	case domain.SessionClosed:
		it.ThreadID, it.InstanceID, it.Holder = p.ThreadID, p.InstanceID, p.OperatorID
		it.CS = encode(CSPush{Type: TypeSessionClosed, Position: it.Position, SessionID: p.ThreadID, Data: session(p.ThreadID, domain.StateClosed, p.OperatorID)})
	case domain.OperatorPresenceChanged:
		it.InstanceID = p.InstanceID
		it.Events = encode(EventsPush{Type: "event", Action: "status_change", Position: it.Position, Data: EventsStatus{
			AgentID: operatorRef(p.OperatorID), Status: p.To, Timestamp: at.Unix()}})
	default:
		return item{}, false
	}
	return it, true
}

// threadOf names the thread an event concerns when build needs its facts.
func threadOf(ev domain.Event) string {
	switch p := ev.(type) {
	case domain.InboundMessageReceived:
		return p.ThreadID
	case domain.ReplyQueued:
		return p.ThreadID
	case domain.SessionQueued:
		return p.ThreadID
	case domain.SessionReopened:
		return p.ThreadID
	case domain.SessionAssigned:
		return p.ThreadID
	case domain.SessionAccepted:
		return p.ThreadID
	case domain.SessionClosed:
		return p.ThreadID
	}
	return ""
}

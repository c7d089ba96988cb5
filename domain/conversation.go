package domain

// Conversations and message edits of the integration API (seed 002 §1.2):
// an agent starting a conversation whose first message is outbound, and
// outbound messages edited or retracted after the fact. The original text
// stays in the history: an edit or a retraction is an event of its own.

// Conversation and message errors.
var (
	ErrContactNotFound        = &Error{Code: "contact_not_found", Message: "no such contact"}
	ErrConversationInProgress = &Error{Code: "conversation_in_progress", Message: "the contact's conversation on this channel is still open"}
	ErrMessageNotFound        = &Error{Code: "message_not_found", Message: "no such message"}
	ErrMessageNotEditable     = &Error{Code: "message_not_editable", Message: "only outbound messages that are not retracted can be changed"}
	ErrMessageInDelivery      = &Error{Code: "message_in_delivery", Message: "the message is being delivered right now; retry in a moment"}
)

// DeliveryRetracted ends the delivery of a reply retracted before it was sent.
const DeliveryRetracted = "retracted"

// Propagation outcomes of an edit or a retraction.
const (
	PropagatedToProvider  = "provider"         // the provider's edit/delete call succeeded
	PropagatedBeforeSend  = "before_delivery"  // not sent yet: the delivery sends the new text, or nothing
	NotPropagatedFailed   = "delivery_failed"  // never delivered: nothing to change at the provider
	NotPropagatedProvider = "provider_refused" // the provider's call failed (Reason says why)
	NotPropagatedNoAPI    = "not_supported"    // the provider has no such call
)

// MessageEdited changes an outbound message's text.
type MessageEdited struct {
	ThreadID    string `json:"thread_id"`
	MessageID   string `json:"message_id"`
	From        string `json:"from"`
	To          string `json:"to"`
	EditorID    string `json:"editor_id"`
	Propagation string `json:"propagation"`
	Reason      string `json:"reason,omitempty"`
}

func (MessageEdited) EventType() string { return "MessageEdited" }

// MessageRetracted withdraws an outbound message: ordinary reads show it as
// retracted, the audit history keeps its text.
type MessageRetracted struct {
	ThreadID    string `json:"thread_id"`
	MessageID   string `json:"message_id"`
	RetractorID string `json:"retractor_id"`
	Propagation string `json:"propagation"`
	Reason      string `json:"reason,omitempty"`
}

func (MessageRetracted) EventType() string { return "MessageRetracted" }

// StartConversationCommand is an agent opening a conversation with a known
// contact on a channel the instance can write to: Provider and
// ExternalThreadID say where; ContactID who.
type StartConversationCommand struct {
	Instance         Instance
	Provider         string
	ExternalThreadID string
	ContactID        string
	Subject          string
	Operator         Operator
	MessageID        string
	ActionID         string
	Text             string
	Actor            Actor
}

// DecideStartConversation opens the thread (when new) or reopens its closed
// session, gives the session to the operator and queues the first message.
// A session still open is ErrConversationInProgress: the agent writes into
// it instead (POST messages).
func DecideStartConversation(t Thread, cmd StartConversationCommand) ([]Event, error) {
	if t.Exists() && t.InstanceID != cmd.Instance.ID {
		return nil, ErrThreadNotFound
	}
	if cmd.Operator.Status != OperatorActive {
		return nil, Errorf(ErrOperatorNotAssignable, "operator %d is not active", cmd.Operator.ID)
	}
	text, err := CleanText("content", cmd.Text, MaxReplyRunes)
	if err != nil {
		return nil, err
	}
	var evs []Event
	if !t.Exists() {
		subject, err := CleanLine("subject", cmd.Subject, 200)
		if err != nil {
			return nil, err
		}
		evs = append(evs, ThreadOpened{ThreadID: t.ID, InstanceID: cmd.Instance.ID, OwnerID: cmd.Instance.OwnerID,
			InstanceAlias: cmd.Instance.Alias, Provider: cmd.Provider, ExternalThreadID: cmd.ExternalThreadID,
			Subject: subject, Status: StatusOpen, Priority: PriorityNormal, ContactID: cmd.ContactID})
		t.Provider, t.InstanceID, t.OwnerID = cmd.Provider, cmd.Instance.ID, cmd.Instance.OwnerID
	} else {
		if t.SessionStatus() != StateClosed {
			return nil, Errorf(ErrConversationInProgress, "conversation %s is %s; send a message into it instead", t.ID, t.SessionStatus())
		}
		evs = append(evs, SessionReopened{ThreadID: t.ID, InstanceID: cmd.Instance.ID, Reason: SessionReasonOpened, Actor: cmd.Actor})
		if t.Status != StatusOpen {
			evs = append(evs, ThreadStatusChanged{ThreadID: t.ID, From: t.Status, To: StatusOpen})
		}
	}
	evs = append(evs,
		SessionAccepted{ThreadID: t.ID, InstanceID: cmd.Instance.ID, OperatorID: cmd.Operator.ID, Actor: cmd.Actor},
		ThreadAssigned{ThreadID: t.ID, From: t.Assignee, To: operatorRef(cmd.Operator.ID)},
		ReplyQueued{ThreadID: t.ID, MessageID: cmd.MessageID, ActionID: cmd.ActionID, ActionType: ActionSendReply,
			Text: text, AuthorID: cmd.Actor.ID, InstanceID: t.InstanceID, OwnerID: t.OwnerID, Provider: t.Provider})
	return evs, nil
}

// EditableReply is the outbound message of a thread an edit or retraction
// may change: ErrMessageNotFound when the thread has no such reply,
// ErrMessageNotEditable when it was retracted.
func EditableReply(t Thread, instanceID, messageID string) (ReplyQueued, error) {
	if err := requireThreadOf(t, instanceID); err != nil {
		return ReplyQueued{}, Errorf(ErrMessageNotFound, "no message %s", messageID)
	}
	r, ok := t.Replies[messageID]
	if !ok {
		return ReplyQueued{}, Errorf(ErrMessageNotFound, "no outbound message %s in this conversation", messageID)
	}
	if r.Retracted {
		return ReplyQueued{}, Errorf(ErrMessageNotEditable, "message %s was retracted", messageID)
	}
	return r, nil
}

// DecideEdit returns the edit of an outbound message; the same text again
// appends nothing.
func DecideEdit(t Thread, instanceID string, e MessageEdited) ([]Event, error) {
	r, err := EditableReply(t, instanceID, e.MessageID)
	if err != nil {
		return nil, err
	}
	to, err := CleanText("content", e.To, MaxReplyRunes)
	if err != nil {
		return nil, err
	}
	if to == r.Text {
		return nil, nil
	}
	e.ThreadID, e.From, e.To = t.ID, r.Text, to
	return []Event{e}, nil
}

// DecideRetract returns the retraction of an outbound message; retracting a
// retracted message appends nothing.
func DecideRetract(t Thread, instanceID string, e MessageRetracted) ([]Event, error) {
	if err := requireThreadOf(t, instanceID); err != nil {
		return nil, Errorf(ErrMessageNotFound, "no message %s", e.MessageID)
	}
	r, ok := t.Replies[e.MessageID]
	if !ok {
		return nil, Errorf(ErrMessageNotFound, "no outbound message %s in this conversation", e.MessageID)
	}
	if r.Retracted {
		return nil, nil
	}
	e.ThreadID = t.ID
	return []Event{e}, nil
}

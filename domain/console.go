package domain

import (
	"strings"
)

// Limits of console input.
const (
	MaxNoteRunes     = 4000
	MaxReplyRunes    = 4096 // Telegram's sendMessage text limit
	MaxAssigneeRunes = 128
)

// Action types and statuses (seed 000).
const (
	ActionSendReply = "send_reply"

	ActionPending    = "pending"
	ActionProcessing = "processing"
	ActionCompleted  = "completed"
	ActionFailed     = "failed"
)

// NoteAdded is an internal note on a thread. It is never delivered anywhere.
type NoteAdded struct {
	ThreadID  string `json:"thread_id"`
	MessageID string `json:"message_id"`
	Text      string `json:"text"`
	AuthorID  string `json:"author_id"`
}

func (NoteAdded) EventType() string { return "NoteAdded" }

// ReplyQueued stores an outbound message and opens its send_reply action in
// pending; the delivery process manager takes it from there.
type ReplyQueued struct {
	ThreadID   string `json:"thread_id"`
	MessageID  string `json:"message_id"`
	ActionID   string `json:"action_id"`
	ActionType string `json:"action_type"`
	Text       string `json:"text"`
	AuthorID   string `json:"author_id"`
	InstanceID string `json:"instance_id"`
	OwnerID    string `json:"owner_id"`
	Provider   string `json:"provider"`
	// Bot messages (seed 001 sendtext): Format "html" sends the text with
	// Telegram's HTML parse mode whatever the channel's setting; Silent asks
	// for no notification; ReplyToProviderID is the provider's id of the
	// message this one answers.
	Format            string `json:"format,omitempty"`
	Silent            bool   `json:"silent,omitempty"`
	ReplyToProviderID string `json:"reply_to_provider_id,omitempty"`
	// Retracted is thread state, never part of the stored event: a
	// MessageRetracted folded into the thread sets it (and MessageEdited
	// changes Text), so a reply not yet sent is sent edited, or not at all.
	Retracted bool `json:"retracted,omitempty"`
}

func (ReplyQueued) EventType() string { return "ReplyQueued" }

// ErrNothingToDo is a PATCH that names no field.
var ErrNothingToDo = &Error{Code: "missing_field", Message: "give at least one of status, priority, assignee"}

// requireThreadOf checks that a thread exists and belongs to the instance.
func requireThreadOf(t Thread, instanceID string) error {
	if !t.Exists() || t.InstanceID != instanceID {
		return ErrThreadNotFound
	}
	return nil
}

// DecideNote returns the note's event.
func DecideNote(t Thread, instanceID, messageID, author, text string) ([]Event, error) {
	if err := requireThreadOf(t, instanceID); err != nil {
		return nil, err
	}
	text, err := CleanText("text", text, MaxNoteRunes)
	if err != nil {
		return nil, err
	}
	return []Event{NoteAdded{ThreadID: t.ID, MessageID: messageID, Text: text, AuthorID: author}}, nil
}

// QueueReplyCommand asks to queue an outbound reply.
type QueueReplyCommand struct {
	InstanceID string
	MessageID  string
	ActionID   string
	Author     string
	Text       string
}

// DecideReply returns the reply's event. A reply whose message id the thread
// already holds (a repeated Idempotency-Key) returns no events.
func DecideReply(t Thread, cmd QueueReplyCommand) ([]Event, ReplyQueued, error) {
	if err := requireThreadOf(t, cmd.InstanceID); err != nil {
		return nil, ReplyQueued{}, err
	}
	if prev, ok := t.Replies[cmd.MessageID]; ok {
		return nil, prev, nil
	}
	text, err := CleanText("text", cmd.Text, MaxReplyRunes)
	if err != nil {
		return nil, ReplyQueued{}, err
	}
	ev := ReplyQueued{
		ThreadID: t.ID, MessageID: cmd.MessageID, ActionID: cmd.ActionID, ActionType: ActionSendReply,
		Text: text, AuthorID: cmd.Author, InstanceID: t.InstanceID, OwnerID: t.OwnerID, Provider: t.Provider,
	}
	return []Event{ev}, ev, nil
}

// ThreadChanges is a PATCH of a thread: nil fields stay as they are. An
// empty Assignee clears the assignee.
type ThreadChanges struct {
	Status   *string
	Priority *string
	Assignee *string
}

// DecideThreadChanges returns one event per field that really changes.
func DecideThreadChanges(t Thread, instanceID string, ch ThreadChanges) ([]Event, error) {
	if err := requireThreadOf(t, instanceID); err != nil {
		return nil, err
	}
	if ch.Status == nil && ch.Priority == nil && ch.Assignee == nil {
		return nil, ErrNothingToDo
	}
	var evs []Event
	if ch.Status != nil {
		if !ValidStatus(*ch.Status) {
			return nil, Errorf(ErrInvalidField, "status must be one of %s", strings.Join(Statuses, ", "))
		}
		if *ch.Status != t.Status {
			evs = append(evs, ThreadStatusChanged{ThreadID: t.ID, From: t.Status, To: *ch.Status})
		}
	}
	if ch.Priority != nil {
		if !ValidPriority(*ch.Priority) {
			return nil, Errorf(ErrInvalidField, "priority must be one of %s", strings.Join(Priorities, ", "))
		}
		if *ch.Priority != t.Priority {
			evs = append(evs, ThreadPriorityChanged{ThreadID: t.ID, From: t.Priority, To: *ch.Priority})
		}
	}
	if ch.Assignee != nil {
		a, err := CleanLine("assignee", *ch.Assignee, MaxAssigneeRunes)
		if err != nil {
			return nil, err
		}
		if a != t.Assignee {
			evs = append(evs, ThreadAssigned{ThreadID: t.ID, From: t.Assignee, To: a})
		}
	}
	return evs, nil
}

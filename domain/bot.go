package domain

import "strings"

// Bot messages (seed 001's sendtext): a bot's text, already converted to the
// provider's format and split to its length limit, queued as replies whose
// author is the bot, so delivery, billing, retries, refunds and audit are
// those of every reply.

// ErrSessionHandledByOperator: a person has the session; the bot may no
// longer answer in it.
var ErrSessionHandledByOperator = &Error{Code: "session_handled_by_operator", Message: "a person handles this session; the bot no longer answers in it"}

// FormatHTML marks a reply whose text is Telegram HTML (sent with that parse
// mode whatever its channel's setting).
const FormatHTML = "html"

// BotAuthor is the author id of a bot's messages.
func BotAuthor(botID string) string { return "bot:" + botID }

// BotMessageCommand asks to queue a bot's message: one reply per part, in
// order, with the ids given (derived from the bot's idempotency key).
type BotMessageCommand struct {
	InstanceID        string
	BotID             string
	Parts             []string
	MessageIDs        []string
	ActionIDs         []string
	Silent            bool
	ReplyToProviderID string
}

// DecideBotMessage returns the replies of a bot message. A message whose
// first part the thread holds already (the same key again) returns no
// events and the replies stored the first time. A session a person holds
// refuses new bot messages.
func DecideBotMessage(t Thread, cmd BotMessageCommand) ([]Event, []ReplyQueued, error) {
	if err := requireThreadOf(t, cmd.InstanceID); err != nil {
		return nil, nil, err
	}
	if _, done := t.Replies[cmd.MessageIDs[0]]; done {
		var prev []ReplyQueued
		for _, id := range cmd.MessageIDs {
			if r, ok := t.Replies[id]; ok {
				prev = append(prev, r)
			}
		}
		return nil, prev, nil
	}
	if t.SessionStatus() == StateManual {
		return nil, nil, Errorf(ErrSessionHandledByOperator, "operator %d handles this session; the bot no longer answers in it", t.SessionOperator)
	}
	var evs []Event
	var out []ReplyQueued
	for i, text := range cmd.Parts {
		r := ReplyQueued{ThreadID: t.ID, MessageID: cmd.MessageIDs[i], ActionID: cmd.ActionIDs[i], ActionType: ActionSendReply,
			Text: text, AuthorID: BotAuthor(cmd.BotID), InstanceID: t.InstanceID, OwnerID: t.OwnerID, Provider: t.Provider,
			Format: FormatHTML, Silent: cmd.Silent, ReplyToProviderID: cmd.ReplyToProviderID}
		if i > 0 {
			r.ReplyToProviderID = "" // only the first part answers
		}
		evs = append(evs, r)
		out = append(out, r)
	}
	return evs, out, nil
}

// BotFirst is the bot that answers an instance's new sessions first (an
// empty BotID: none) and the words with which a customer asks for a person.
type BotFirst struct {
	BotID    string
	Keywords []string
}

// DefaultHandoffKeywords are what a customer writes to ask for a person.
var DefaultHandoffKeywords = []string{"人工", "human", "agent"}

// AsksForPerson tells whether a customer's text holds a hand-off keyword
// (case-insensitive).
func (b BotFirst) AsksForPerson(text string) bool {
	t := strings.ToLower(text)
	for _, k := range b.Keywords {
		if k = strings.ToLower(strings.TrimSpace(k)); k != "" && strings.Contains(t, k) {
			return true
		}
	}
	return false
}

// SessionBotHandling gives a session to the instance's bot (state ai): a new
// or reopened conversation on an instance whose bot answers first.
type SessionBotHandling struct {
	ThreadID   string `json:"thread_id"`
	InstanceID string `json:"instance_id"`
	BotID      string `json:"bot_id"`
	Reason     string `json:"reason"`
}

func (SessionBotHandling) EventType() string { return "SessionBotHandling" }

// DecideHandoff sends a session the bot has to the queue (pending), for
// routing to give to a person. A session already pending appends nothing; a
// person's session refuses (ErrSessionHandledByOperator), a closed one too.
func DecideHandoff(t Thread, instanceID, reason, detail string, actor Actor) ([]Event, error) {
	if err := requireThreadOf(t, instanceID); err != nil {
		return nil, err
	}
	switch t.SessionStatus() {
	case StateAI:
		return []Event{SessionQueued{ThreadID: t.ID, InstanceID: instanceID, Reason: reason, Detail: detail, Actor: actor}}, nil
	case StatePending:
		return nil, nil
	case StateManual:
		return nil, Errorf(ErrSessionHandledByOperator, "operator %d handles this session already", t.SessionOperator)
	}
	return nil, Errorf(ErrSessionWrongStatus, "the session is closed")
}

// MemberChanged is a member joining or leaving a group conversation
// (Telegram's chat_member, my_chat_member, new_chat_members and
// left_chat_member): an event of the thread, not a billed message.
type MemberChanged struct {
	ThreadID        string `json:"thread_id"`
	InstanceID      string `json:"instance_id"`
	Joined          bool   `json:"joined"`
	MemberID        string `json:"member_id"`
	MemberName      string `json:"member_name"`
	OperatorID      string `json:"operator_id"`
	OperatorName    string `json:"operator_name"`
	GroupType       string `json:"group_type"`
	DialogName      string `json:"dialog_name"`
	ProviderEventID string `json:"provider_event_id"`
}

func (MemberChanged) EventType() string { return "MemberChanged" }

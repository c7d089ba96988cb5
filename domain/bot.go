package domain

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

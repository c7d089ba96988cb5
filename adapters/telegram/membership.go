package telegram

import (
	"encoding/json"
	"strconv"

	"github.com/socialops/socialops/domain"
)

// Membership is one member joining or leaving a chat, from a Telegram update.
type Membership struct {
	EventID          string // the update id, with the member's index when one update names several
	ExternalThreadID string // the chat
	Joined           bool
	Member           domain.Sender
	Operator         domain.Sender // who added or removed them (the member themself when they came or went)
	ChatType         string
	ChatName         string
}

type membershipUpdate struct {
	UpdateID *int64 `json:"update_id"`
	Message  *struct {
		Chat           *chat  `json:"chat"`
		From           *user  `json:"from"`
		NewChatMembers []user `json:"new_chat_members"`
		LeftChatMember *user  `json:"left_chat_member"`
	} `json:"message"`
	ChatMember   *chatMemberUpdated `json:"chat_member"`
	MyChatMember *chatMemberUpdated `json:"my_chat_member"`
}

type chatMemberUpdated struct {
	Chat          *chat       `json:"chat"`
	From          *user       `json:"from"`
	OldChatMember *chatMember `json:"old_chat_member"`
	NewChatMember *chatMember `json:"new_chat_member"`
}

type chatMember struct {
	User     *user  `json:"user"`
	Status   string `json:"status"`
	IsMember *bool  `json:"is_member"` // restricted members only
}

// present tells whether a chat member status counts as being in the chat.
func (m *chatMember) present() bool {
	switch m.Status {
	case "creator", "administrator", "member":
		return true
	case "restricted":
		return m.IsMember == nil || *m.IsMember
	}
	return false
}

// NormalizeMembership reads the membership changes of an update: the
// new_chat_members and left_chat_member service messages, and chat_member
// and my_chat_member updates whose status crosses in or out of the chat.
// None (and no error) for any other update.
func NormalizeMembership(body []byte) ([]Membership, error) {
	var u membershipUpdate
	if err := json.Unmarshal(body, &u); err != nil {
		return nil, domain.Errorf(domain.ErrInvalidPayload, "the Telegram update is not valid JSON: %v", err)
	}
	if u.UpdateID == nil {
		return nil, nil
	}
	id := strconv.FormatInt(*u.UpdateID, 10)
	var out []Membership
	add := func(c *chat, joined bool, member, by *user, n int) {
		if c == nil || c.ID == 0 || member == nil {
			return
		}
		m := Membership{EventID: id, ExternalThreadID: strconv.FormatInt(c.ID, 10), Joined: joined, Member: userSender(member),
			ChatType: c.Type, ChatName: chatName(c)}
		if n > 0 {
			m.EventID = id + ":" + strconv.Itoa(n)
		}
		m.Operator = m.Member
		if by != nil {
			m.Operator = userSender(by)
		}
		out = append(out, m)
	}
	if msg := u.Message; msg != nil {
		for i := range msg.NewChatMembers {
			add(msg.Chat, true, &msg.NewChatMembers[i], msg.From, i)
		}
		if msg.LeftChatMember != nil {
			add(msg.Chat, false, msg.LeftChatMember, msg.From, 0)
		}
		return out, nil
	}
	for _, cm := range []*chatMemberUpdated{u.ChatMember, u.MyChatMember} {
		if cm == nil || cm.OldChatMember == nil || cm.NewChatMember == nil || cm.NewChatMember.User == nil {
			continue
		}
		was, is := cm.OldChatMember.present(), cm.NewChatMember.present()
		if was != is {
			add(cm.Chat, is, cm.NewChatMember.User, cm.From, 0)
		}
	}
	return out, nil
}

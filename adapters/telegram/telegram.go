// Package telegram normalizes Telegram Bot API webhook deliveries (Update
// objects, https://core.telegram.org/bots/api#update) into inbound messages.
//
// Supported parts of an update, at most one of which Telegram sends:
// message, edited_message, channel_post, edited_channel_post,
// business_message, edited_business_message and callback_query. An update
// with none of them (my_chat_member, chat_member, poll_answer,
// message_reaction, inline_query, chat_join_request, …) is
// domain.ErrEventIgnored: acknowledged, nothing stored. So is a service
// message (someone joined or left, the title or photo changed, a message was
// pinned, a forum topic was created, …), which carries nothing a person wrote,
// and a callback_query from an inline message, which belongs to no chat the
// bot is in.
//
// Mapping:
//
//   - ProviderEventID is update_id as a decimal string (required: absent is
//     ErrMissingField naming "update_id").
//   - ExternalThreadID is the chat id as a decimal string: one thread per
//     chat (forum topics of a supergroup share the chat's thread).
//     ExternalMessageID is message_id (for a callback query, the query id).
//   - Subject is the chat title; for a private chat the other person's first
//     and last name, else @username; else "Telegram chat <id>".
//   - Sender is sender_chat when present (channel posts, anonymous group
//     admins, posts on behalf of a linked channel), else from. ExternalID is
//     the user or chat id; DisplayName is first + last name, else @username,
//     else the chat title.
//   - Text is text, or caption. Other messages get a MessageType and a
//     readable placeholder, followed by the caption when there is one:
//     "[photo] caption", "[document: report.pdf]", "[sticker 😀]",
//     "[voice message, 4s]", "[audio: Artist – Title, 3m 20s]",
//     "[video, 12s]", "[video message, 8s]", "[GIF]",
//     "[location: 52.52, 13.405]", "[venue: Name, Address]",
//     "[contact: Name, +49…]", "[poll: Question? (A / B)]", "[dice 🎲 4]",
//     "[game: Title]", "[story]"; anything newer is "[unsupported message]"
//     of type "other".
//   - An edited message (edited_message, edited_channel_post,
//     edited_business_message) is stored as a new message in the same thread,
//     with the same ExternalMessageID and MessageType as the original and its
//     text prefixed "[edited] ", so a reader sees the correction next to the
//     original. OccurredAt is edit_date (else date).
//   - callback_query: the thread is its message's chat, MessageType
//     "callback", Text its data (else "[game: <short name>]", else
//     "[button pressed]"), Sender the user who pressed the button. A callback
//     has no time of its own, so OccurredAt is zero.
//   - OccurredAt is date (unix seconds) in UTC; zero when absent or out of
//     range.
//
// Invalid JSON, or a body that is not a JSON object, is ErrInvalidPayload; a
// field of the wrong JSON type is ErrInvalidField naming its path (for example
// "message.chat.id"); a message without a chat is ErrMissingField naming
// "<part>.chat" or "<part>.chat.id".
package telegram

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/socialops/socialops/adapters/providertext"
	"github.com/socialops/socialops/domain"
)

// EditedPrefix starts the text of an edited message.
const EditedPrefix = "[edited] "

// maxPlaceholderPart bounds a user-supplied piece (a file name, a poll
// question) inside a placeholder, in runes.
const maxPlaceholderPart = 200

// maxUnix is 9999-12-31T23:59:59Z: later times cannot be encoded as JSON.
const maxUnix = 253402300799

type update struct {
	UpdateID              *int64         `json:"update_id"`
	Message               *message       `json:"message"`
	EditedMessage         *message       `json:"edited_message"`
	ChannelPost           *message       `json:"channel_post"`
	EditedChannelPost     *message       `json:"edited_channel_post"`
	BusinessMessage       *message       `json:"business_message"`
	EditedBusinessMessage *message       `json:"edited_business_message"`
	CallbackQuery         *callbackQuery `json:"callback_query"`
}

type user struct {
	ID        int64  `json:"id"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Username  string `json:"username"`
}

type chat struct {
	ID        int64  `json:"id"`
	Type      string `json:"type"`
	Title     string `json:"title"`
	Username  string `json:"username"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
}

type message struct {
	MessageID  int64  `json:"message_id"`
	From       *user  `json:"from"`
	SenderChat *chat  `json:"sender_chat"`
	Chat       *chat  `json:"chat"`
	Date       int64  `json:"date"`
	EditDate   int64  `json:"edit_date"`
	Text       string `json:"text"`
	Caption    string `json:"caption"`

	Animation *media          `json:"animation"`
	Photo     json.RawMessage `json:"photo"`
	Video     *media          `json:"video"`
	VideoNote *media          `json:"video_note"`
	Voice     *media          `json:"voice"`
	Audio     *media          `json:"audio"`
	Document  *media          `json:"document"`
	Sticker   *sticker        `json:"sticker"`
	Venue     *venue          `json:"venue"`
	Location  *location       `json:"location"`
	Contact   *contact        `json:"contact"`
	Poll      *poll           `json:"poll"`
	Dice      *dice           `json:"dice"`
	Game      *game           `json:"game"`
	Story     json.RawMessage `json:"story"`
}

type media struct {
	FileName  string `json:"file_name"`
	Duration  int64  `json:"duration"`
	Performer string `json:"performer"`
	Title     string `json:"title"`
}

type sticker struct {
	Emoji string `json:"emoji"`
}

type location struct {
	Latitude   float64 `json:"latitude"`
	Longitude  float64 `json:"longitude"`
	LivePeriod int64   `json:"live_period"`
}

type venue struct {
	Title   string `json:"title"`
	Address string `json:"address"`
}

type contact struct {
	PhoneNumber string `json:"phone_number"`
	FirstName   string `json:"first_name"`
	LastName    string `json:"last_name"`
}

type poll struct {
	Question string `json:"question"`
	Type     string `json:"type"`
	Options  []struct {
		Text string `json:"text"`
	} `json:"options"`
}

type dice struct {
	Emoji string `json:"emoji"`
	Value int64  `json:"value"`
}

type game struct {
	Title string `json:"title"`
}

type callbackQuery struct {
	ID            string   `json:"id"`
	From          *user    `json:"from"`
	Message       *message `json:"message"`
	Data          string   `json:"data"`
	GameShortName string   `json:"game_short_name"`
}

// Normalize turns a Telegram Update into an inbound message, or returns a
// *domain.Error (ErrInvalidPayload, ErrMissingField, ErrInvalidField or
// ErrEventIgnored).
func Normalize(body []byte) (domain.InboundMessage, error) {
	var u update
	trimmed, err := providertext.DecodeObject(body, &u, "Telegram update")
	if err != nil {
		return domain.InboundMessage{}, err
	}
	if u.UpdateID == nil {
		return domain.InboundMessage{}, domain.Errorf(domain.ErrMissingField, "update_id is required")
	}
	eventID := strconv.FormatInt(*u.UpdateID, 10)

	parts := []struct {
		name   string
		msg    *message
		edited bool
	}{
		{"message", u.Message, false},
		{"edited_message", u.EditedMessage, true},
		{"channel_post", u.ChannelPost, false},
		{"edited_channel_post", u.EditedChannelPost, true},
		{"business_message", u.BusinessMessage, false},
		{"edited_business_message", u.EditedBusinessMessage, true},
	}
	for _, p := range parts {
		if p.msg != nil {
			return normalizeMessage(trimmed, eventID, p.name, p.msg, p.edited)
		}
	}
	if u.CallbackQuery != nil {
		return normalizeCallback(eventID, u.CallbackQuery)
	}
	return domain.InboundMessage{}, domain.Errorf(domain.ErrEventIgnored, "the update carries no message")
}

func normalizeMessage(body []byte, eventID, part string, m *message, edited bool) (domain.InboundMessage, error) {
	if m.Chat == nil {
		return domain.InboundMessage{}, domain.Errorf(domain.ErrMissingField, "%s.chat is required", part)
	}
	if m.Chat.ID == 0 {
		return domain.InboundMessage{}, domain.Errorf(domain.ErrMissingField, "%s.chat.id is required", part)
	}
	msgType, text := content(m)
	if msgType == "" {
		if isServiceMessage(body, part) {
			return domain.InboundMessage{}, domain.Errorf(domain.ErrEventIgnored, "%s is a service message", part)
		}
		msgType, text = domain.MessageOther, "[unsupported message]"
	}
	occurred := m.Date
	if edited {
		text = EditedPrefix + text
		if m.EditDate > 0 {
			occurred = m.EditDate
		}
	}
	msg := domain.InboundMessage{
		Provider:         domain.ProviderTelegram,
		ProviderEventID:  eventID,
		ExternalThreadID: strconv.FormatInt(m.Chat.ID, 10),
		Subject:          subject(m.Chat),
		MessageType:      msgType,
		Text:             providertext.CleanText(text, providertext.MaxTextBytes),
		Sender:           messageSender(m),
		OccurredAt:       unixTime(occurred),
	}
	if m.MessageID != 0 {
		msg.ExternalMessageID = strconv.FormatInt(m.MessageID, 10)
	}
	return msg, nil
}

func normalizeCallback(eventID string, q *callbackQuery) (domain.InboundMessage, error) {
	if q.Message == nil || q.Message.Chat == nil || q.Message.Chat.ID == 0 {
		return domain.InboundMessage{}, domain.Errorf(domain.ErrEventIgnored, "the callback query does not come from a chat message")
	}
	text := providertext.CleanText(q.Data, providertext.MaxTextBytes)
	if text == "" {
		if name := providertext.CleanLine(q.GameShortName, maxPlaceholderPart); name != "" {
			text = "[game: " + name + "]"
		} else {
			text = "[button pressed]"
		}
	}
	msg := domain.InboundMessage{
		Provider:          domain.ProviderTelegram,
		ProviderEventID:   eventID,
		ExternalThreadID:  strconv.FormatInt(q.Message.Chat.ID, 10),
		ExternalMessageID: providertext.CleanLine(q.ID, 128),
		Subject:           subject(q.Message.Chat),
		MessageType:       domain.MessageCallback,
		Text:              text,
	}
	if q.From != nil && q.From.ID != 0 {
		msg.Sender = userSender(q.From)
	}
	return msg, nil
}

// content returns a message's type and text (placeholder and caption for
// non-text messages); the type is empty when nothing is recognized.
func content(m *message) (string, string) {
	if t := providertext.CleanText(m.Text, providertext.MaxTextBytes); t != "" {
		return domain.MessageText, t
	}
	msgType, placeholder := describe(m)
	caption := providertext.CleanText(m.Caption, providertext.MaxTextBytes)
	switch {
	case msgType != "" && caption != "":
		return msgType, placeholder + " " + caption
	case msgType != "":
		return msgType, placeholder
	case caption != "":
		return domain.MessageText, caption
	}
	return "", ""
}

// describe names a non-text message. animation is checked before document and
// venue before location: Telegram sends both fields for those.
func describe(m *message) (string, string) {
	switch {
	case m.Animation != nil:
		return domain.MessageVideo, "[GIF]"
	case providertext.Present(m.Photo):
		return domain.MessagePhoto, "[photo]"
	case m.Video != nil:
		return domain.MessageVideo, placeholder("video", m.Video.FileName, duration(m.Video.Duration))
	case m.VideoNote != nil:
		return domain.MessageVideo, placeholder("video message", "", duration(m.VideoNote.Duration))
	case m.Voice != nil:
		return domain.MessageVoice, placeholder("voice message", "", duration(m.Voice.Duration))
	case m.Audio != nil:
		name := joinNonEmpty(" – ", providertext.CleanLine(m.Audio.Performer, maxPlaceholderPart), providertext.CleanLine(m.Audio.Title, maxPlaceholderPart))
		if name == "" {
			name = m.Audio.FileName
		}
		return domain.MessageAudio, placeholder("audio", name, duration(m.Audio.Duration))
	case m.Document != nil:
		return domain.MessageDocument, placeholder("document", m.Document.FileName, "")
	case m.Sticker != nil:
		if e := providertext.CleanLine(m.Sticker.Emoji, 16); e != "" {
			return domain.MessageSticker, "[sticker " + e + "]"
		}
		return domain.MessageSticker, "[sticker]"
	case m.Venue != nil:
		return domain.MessageLocation, placeholder("venue", joinNonEmpty(", ", providertext.CleanLine(m.Venue.Title, maxPlaceholderPart), providertext.CleanLine(m.Venue.Address, maxPlaceholderPart)), "")
	case m.Location != nil:
		label := "location"
		if m.Location.LivePeriod > 0 {
			label = "live location"
		}
		coords := strconv.FormatFloat(m.Location.Latitude, 'f', -1, 64) + ", " + strconv.FormatFloat(m.Location.Longitude, 'f', -1, 64)
		return domain.MessageLocation, placeholder(label, coords, "")
	case m.Contact != nil:
		name := joinNonEmpty(" ", providertext.CleanLine(m.Contact.FirstName, maxPlaceholderPart), providertext.CleanLine(m.Contact.LastName, maxPlaceholderPart))
		return domain.MessageContact, placeholder("contact", joinNonEmpty(", ", name, providertext.CleanLine(m.Contact.PhoneNumber, 64)), "")
	case m.Poll != nil:
		label := "poll"
		if m.Poll.Type == "quiz" {
			label = "quiz"
		}
		var options []string
		for i, o := range m.Poll.Options {
			if i == 10 {
				options = append(options, "…")
				break
			}
			if t := providertext.CleanLine(o.Text, 100); t != "" {
				options = append(options, t)
			}
		}
		question := providertext.CleanLine(m.Poll.Question, maxPlaceholderPart)
		if len(options) > 0 {
			question = joinNonEmpty(" ", question, "("+strings.Join(options, " / ")+")")
		}
		return domain.MessageOther, placeholder(label, question, "")
	case m.Dice != nil:
		emoji := providertext.CleanLine(m.Dice.Emoji, 16)
		if emoji == "" {
			emoji = "🎲"
		}
		if m.Dice.Value != 0 {
			return domain.MessageOther, fmt.Sprintf("[dice %s %d]", emoji, m.Dice.Value)
		}
		return domain.MessageOther, "[dice " + emoji + "]"
	case m.Game != nil:
		return domain.MessageOther, placeholder("game", m.Game.Title, "")
	case providertext.Present(m.Story):
		return domain.MessageOther, "[story]"
	}
	return "", ""
}

// placeholder formats "[label: name, detail]", leaving out empty parts.
func placeholder(label, name, detail string) string {
	s := "[" + label
	if name = providertext.CleanLine(name, maxPlaceholderPart); name != "" {
		s += ": " + name
	}
	if detail != "" {
		s += ", " + detail
	}
	return s + "]"
}

func joinNonEmpty(sep string, parts ...string) string {
	var kept []string
	for _, p := range parts {
		if p != "" {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, sep)
}

// duration formats seconds as "4s", "3m 20s" or "1h 2m 3s"; "" for none.
func duration(sec int64) string {
	if sec <= 0 {
		return ""
	}
	h, m, s := sec/3600, sec/60%60, sec%60
	switch {
	case h > 0:
		return fmt.Sprintf("%dh %dm %ds", h, m, s)
	case m > 0:
		return fmt.Sprintf("%dm %ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}

// serviceFields are the Message fields of service messages: events in a chat
// that nobody wrote.
var serviceFields = []string{
	"new_chat_members", "left_chat_member", "new_chat_title", "new_chat_photo",
	"delete_chat_photo", "group_chat_created", "supergroup_chat_created",
	"channel_chat_created", "message_auto_delete_timer_changed",
	"migrate_to_chat_id", "migrate_from_chat_id", "pinned_message",
	"users_shared", "chat_shared", "connected_website", "write_access_allowed",
	"proximity_alert_triggered", "boost_added", "chat_background_set",
	"forum_topic_created", "forum_topic_edited", "forum_topic_closed",
	"forum_topic_reopened", "general_forum_topic_hidden",
	"general_forum_topic_unhidden", "giveaway_created", "giveaway_completed",
	"video_chat_scheduled", "video_chat_started", "video_chat_ended",
	"video_chat_participants_invited", "successful_payment", "refunded_payment",
}

// isServiceMessage reports whether the update's part is a service message.
func isServiceMessage(body []byte, part string) bool {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return false
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(top[part], &fields) != nil {
		return false
	}
	for _, name := range serviceFields {
		if providertext.Present(fields[name]) {
			return true
		}
	}
	return false
}

// subject is the thread subject a chat proposes.
func subject(c *chat) string {
	if s := chatName(c); s != "" {
		return providertext.TruncateRunes(s, providertext.MaxSubjectRunes)
	}
	return "Telegram chat " + strconv.FormatInt(c.ID, 10)
}

func chatName(c *chat) string {
	if t := providertext.CleanLine(c.Title, providertext.MaxSubjectRunes); t != "" {
		return t
	}
	if n := providertext.CleanLine(c.FirstName+" "+c.LastName, providertext.MaxSubjectRunes); n != "" {
		return n
	}
	if u := providertext.CleanLine(c.Username, providertext.MaxSubjectRunes); u != "" {
		return "@" + u
	}
	return ""
}

func messageSender(m *message) domain.Sender {
	switch {
	case m.SenderChat != nil && m.SenderChat.ID != 0:
		return chatSender(m.SenderChat)
	case m.From != nil && m.From.ID != 0:
		return userSender(m.From)
	case m.Chat.Type == "channel":
		return chatSender(m.Chat)
	}
	return domain.Sender{}
}

func userSender(u *user) domain.Sender {
	name := providertext.CleanLine(u.FirstName+" "+u.LastName, providertext.MaxDisplayNameRunes)
	if name == "" {
		if un := providertext.CleanLine(u.Username, providertext.MaxDisplayNameRunes-1); un != "" {
			name = "@" + un
		}
	}
	return domain.Sender{ExternalID: strconv.FormatInt(u.ID, 10), DisplayName: name}
}

func chatSender(c *chat) domain.Sender {
	return domain.Sender{
		ExternalID:  strconv.FormatInt(c.ID, 10),
		DisplayName: providertext.TruncateRunes(chatName(c), providertext.MaxDisplayNameRunes),
	}
}

// unixTime converts Telegram's unix seconds; zero when absent or out of range.
func unixTime(sec int64) time.Time {
	if sec <= 0 || sec > maxUnix {
		return time.Time{}
	}
	return time.Unix(sec, 0).UTC()
}

// VerifySecretToken reports whether got, the X-Telegram-Bot-Api-Secret-Token
// header, equals expected, the secret_token given to setWebhook. The
// comparison is constant time (also in the length, both sides being hashed
// first). An empty expected token verifies nothing and returns false.
func VerifySecretToken(expected, got string) bool {
	if expected == "" {
		return false
	}
	e := sha256.Sum256([]byte(expected))
	g := sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(e[:], g[:]) == 1
}

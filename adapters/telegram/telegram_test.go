package telegram

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/providertext"
	"github.com/socialops/socialops/adapters/providertext/providertexttest"
	"github.com/socialops/socialops/domain"
)

var (
	alice      = domain.Sender{ExternalID: "987654321", DisplayName: "Alice Smith"}
	bob        = domain.Sender{ExternalID: "555000111", DisplayName: "Bob"}
	aliceChat  = "987654321"
	groupChat  = "-1001234567890"
	channel    = "-1009876543210"
	channelBy  = domain.Sender{ExternalID: "-1009876543210", DisplayName: "Acme Status"}
	groupAsked = domain.Sender{ExternalID: "-1001234567890", DisplayName: "Acme Support"}
)

func unix(sec int64) time.Time { return time.Unix(sec, 0).UTC() }

func TestNormalizeSamples(t *testing.T) {
	tests := []struct {
		file      string
		eventID   string
		thread    string
		messageID string
		subject   string
		msgType   string
		text      string
		sender    domain.Sender
		occurred  time.Time
	}{
		{"message_text_private.json", "100000001", aliceChat, "42", "Alice Smith", domain.MessageText,
			"Hi, my order #1234 hasn't arrived yet", alice, unix(1714564987)},
		{"message_text_group.json", "100000002", groupChat, "311", "Acme Support", domain.MessageText,
			"Is the API down for anyone else?\nI get 502s since 10:00.", bob, unix(1714565100)},
		{"message_anonymous_admin.json", "100000003", groupChat, "312", "Acme Support", domain.MessageText,
			"We are looking into it.", groupAsked, unix(1714565160)},
		{"message_photo_caption.json", "100000004", aliceChat, "43", "Alice Smith", domain.MessagePhoto,
			"[photo] Screenshot of the error", alice, unix(1714565000)},
		{"message_photo.json", "100000005", aliceChat, "44", "Alice Smith", domain.MessagePhoto,
			"[photo]", alice, unix(1714565001)},
		{"message_document.json", "100000006", aliceChat, "45", "Alice Smith", domain.MessageDocument,
			"[document: report.pdf] Invoice for April", alice, unix(1714564987)},
		{"message_sticker.json", "100000007", aliceChat, "46", "Alice Smith", domain.MessageSticker,
			"[sticker 😀]", alice, unix(1714564987)},
		{"message_voice.json", "100000008", aliceChat, "47", "Alice Smith", domain.MessageVoice,
			"[voice message, 4s]", alice, unix(1714564987)},
		{"message_audio.json", "100000009", aliceChat, "48", "Alice Smith", domain.MessageAudio,
			"[audio: Acme Band – Hold Music, 3m 20s]", alice, unix(1714564987)},
		{"message_video.json", "100000010", aliceChat, "49", "Alice Smith", domain.MessageVideo,
			"[video: bug-repro.mp4, 12s] Here is how it happens", alice, unix(1714564987)},
		{"message_video_note.json", "100000011", aliceChat, "50", "Alice Smith", domain.MessageVideo,
			"[video message, 8s]", alice, unix(1714564987)},
		{"message_animation.json", "100000012", aliceChat, "51", "Alice Smith", domain.MessageVideo,
			"[GIF]", alice, unix(1714564987)},
		{"message_location.json", "100000013", aliceChat, "52", "Alice Smith", domain.MessageLocation,
			"[location: 52.520008, 13.404954]", alice, unix(1714564987)},
		{"message_venue.json", "100000014", aliceChat, "53", "Alice Smith", domain.MessageLocation,
			"[venue: Eiffel Tower, Champ de Mars, 5 Av. Anatole France, 75007 Paris]", alice, unix(1714564987)},
		{"message_contact.json", "100000015", aliceChat, "54", "Alice Smith", domain.MessageContact,
			"[contact: Carol Jones, +4915112345678]", alice, unix(1714564987)},
		{"message_poll.json", "100000016", groupChat, "313", "Acme Support", domain.MessageOther,
			"[poll: Which time works for the call? (10:00 / 14:00 / 16:30)]", bob, unix(1714565300)},
		{"message_dice.json", "100000017", aliceChat, "55", "Alice Smith", domain.MessageOther,
			"[dice 🎲 4]", alice, unix(1714564987)},
		{"message_story.json", "100000018", aliceChat, "56", "Alice Smith", domain.MessageOther,
			"[story]", alice, unix(1714564987)},
		{"edited_message.json", "100000019", aliceChat, "42", "Alice Smith", domain.MessageText,
			"[edited] Hi, my order #1234 hasn't arrived yet (ordered on 28 April)", alice, unix(1714565050)},
		{"edited_message_caption.json", "100000020", aliceChat, "43", "Alice Smith", domain.MessagePhoto,
			"[edited] [photo] Screenshot of the error (Chrome 124)", alice, unix(1714565077)},
		{"channel_post.json", "100000021", channel, "88", "Acme Status", domain.MessageText,
			"Scheduled maintenance tonight 22:00–23:00 UTC.", channelBy, unix(1714566000)},
		{"edited_channel_post.json", "100000022", channel, "88", "Acme Status", domain.MessageText,
			"[edited] Scheduled maintenance tonight 22:00–23:30 UTC.", channelBy, unix(1714566120)},
		{"business_message.json", "100000023", "555000111", "9001", "Bob", domain.MessageText,
			"Do you ship to Austria?", bob, unix(1714567000)},
		{"callback_query.json", "100000024", aliceChat, "4382bfdwdsb323b2d9", "Alice Smith", domain.MessageCallback,
			"solved:no", alice, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			msg, err := Normalize(providertexttest.ReadSample(t, tt.file))
			require.NoError(t, err)
			assert.Equal(t, domain.InboundMessage{
				Provider:          domain.ProviderTelegram,
				ProviderEventID:   tt.eventID,
				ExternalThreadID:  tt.thread,
				ExternalMessageID: tt.messageID,
				Subject:           tt.subject,
				MessageType:       tt.msgType,
				Text:              tt.text,
				Sender:            tt.sender,
				OccurredAt:        tt.occurred,
			}, msg)
		})
	}
}

func TestEditedMessageJoinsTheOriginal(t *testing.T) {
	original, err := Normalize(providertexttest.ReadSample(t, "message_text_private.json"))
	require.NoError(t, err)
	edited, err := Normalize(providertexttest.ReadSample(t, "edited_message.json"))
	require.NoError(t, err)
	assert.Equal(t, original.ExternalThreadID, edited.ExternalThreadID)
	assert.Equal(t, original.ExternalMessageID, edited.ExternalMessageID)
	assert.NotEqual(t, original.ProviderEventID, edited.ProviderEventID, "an edit is a new delivery, not a duplicate")
	assert.True(t, strings.HasPrefix(edited.Text, EditedPrefix))
	assert.False(t, strings.HasPrefix(original.Text, EditedPrefix))
}

func TestIgnoredUpdates(t *testing.T) {
	tests := []struct{ name, body string }{
		{"my_chat_member", string(providertexttest.ReadSample(t, "my_chat_member.json"))},
		{"poll_answer", string(providertexttest.ReadSample(t, "poll_answer.json"))},
		{"message_reaction", string(providertexttest.ReadSample(t, "message_reaction.json"))},
		{"service message: new chat members", string(providertexttest.ReadSample(t, "message_new_chat_members.json"))},
		{"service message: pinned", string(providertexttest.ReadSample(t, "message_pinned.json"))},
		{"callback from an inline message", string(providertexttest.ReadSample(t, "callback_query_inline.json"))},
		{"only update_id", `{"update_id": 5}`},
		{"null message", `{"update_id": 5, "message": null}`},
		{"inline_query", `{"update_id":6,"inline_query":{"id":"1","from":{"id":1,"is_bot":false,"first_name":"A"},"query":"x","offset":""}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Normalize([]byte(tt.body))
			providertexttest.RequireCodedError(t, err, domain.ErrEventIgnored, "")
		})
	}
}

func TestNormalizeErrors(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		base  *domain.Error
		field string
	}{
		{"no update_id", `{"message":{"message_id":1,"chat":{"id":1,"type":"private"},"date":1,"text":"x"}}`, domain.ErrMissingField, "update_id"},
		{"null update_id", `{"update_id":null}`, domain.ErrMissingField, "update_id"},
		{"update_id as a string", `{"update_id":"100"}`, domain.ErrInvalidField, "update_id"},
		{"fractional update_id", `{"update_id":1.5}`, domain.ErrInvalidField, "update_id"},
		{"update_id beyond int64", `{"update_id":99999999999999999999}`, domain.ErrInvalidField, "update_id"},
		{"chat id as a string", `{"update_id":1,"message":{"message_id":1,"chat":{"id":"x"},"text":"x"}}`, domain.ErrInvalidField, "message.chat.id"},
		{"text as a number", `{"update_id":1,"message":{"message_id":1,"chat":{"id":1},"text":7}}`, domain.ErrInvalidField, "message.text"},
		{"message without chat", `{"update_id":1,"message":{"message_id":1,"text":"x"}}`, domain.ErrMissingField, "message.chat"},
		{"edited message with chat id 0", `{"update_id":1,"edited_message":{"message_id":1,"chat":{"type":"private"},"text":"x"}}`, domain.ErrMissingField, "edited_message.chat.id"},
		{"empty body", ``, domain.ErrInvalidPayload, "body"},
		{"not JSON", `update_id=1`, domain.ErrInvalidPayload, "body"},
		{"truncated JSON", `{"update_id":1,"message":{`, domain.ErrInvalidPayload, "body"},
		{"array", `[{"update_id":1}]`, domain.ErrInvalidPayload, "body"},
		{"null", `null`, domain.ErrInvalidPayload, "body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Normalize([]byte(tt.body))
			providertexttest.RequireCodedError(t, err, tt.base, tt.field)
		})
	}
}

func TestNormalizeEdgeCases(t *testing.T) {
	wrap := func(message string) []byte {
		return []byte(`{"update_id":7,"message":{"message_id":9,"from":{"id":1,"is_bot":false,"first_name":"A"},"chat":{"id":1,"type":"private","first_name":"A"},"date":1714564987,` + message + `}}`)
	}
	tests := []struct {
		name, message, msgType, text string
	}{
		{"unknown content type", `"paid_media":{"star_count":5,"paid_media":[]}`, domain.MessageOther, "[unsupported message]"},
		{"caption without known media", `"paid_media":{"star_count":5},"caption":"exclusive"`, domain.MessageText, "exclusive"},
		{"document without a name", `"document":{"file_id":"x","file_unique_id":"y"}`, domain.MessageDocument, "[document]"},
		{"sticker without emoji", `"sticker":{"file_id":"x","type":"regular"}`, domain.MessageSticker, "[sticker]"},
		{"long voice message", `"voice":{"file_id":"x","duration":3725}`, domain.MessageVoice, "[voice message, 1h 2m 5s]"},
		{"audio with only a file name", `"audio":{"file_id":"x","file_name":"call.m4a","duration":65}`, domain.MessageAudio, "[audio: call.m4a, 1m 5s]"},
		{"live location", `"location":{"latitude":1.5,"longitude":-2.25,"live_period":900}`, domain.MessageLocation, "[live location: 1.5, -2.25]"},
		{"quiz", `"poll":{"id":"1","question":"2+2?","options":[{"text":"4"},{"text":"5"}],"type":"quiz"}`, domain.MessageOther, "[quiz: 2+2? (4 / 5)]"},
		{"game", `"game":{"title":"Lumberjack","description":"d","photo":[]}`, domain.MessageOther, "[game: Lumberjack]"},
		{"file name with a newline and NUL", `"document":{"file_id":"x","file_name":"a\nb\u0000.pdf"}`, domain.MessageDocument, "[document: a b .pdf]"},
		{"text with NUL and CRLF", `"text":"line 1\r\nline\u0000 2"`, domain.MessageText, "line 1\nline 2"},
		{"text wins over caption", `"text":"hello","caption":"ignored"`, domain.MessageText, "hello"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, err := Normalize(wrap(tt.message))
			require.NoError(t, err)
			assert.Equal(t, tt.msgType, msg.MessageType)
			assert.Equal(t, tt.text, msg.Text)
		})
	}

	t.Run("no date gives no time; dates past year 9999 are dropped", func(t *testing.T) {
		for _, date := range []string{"0", "-5", "253402300800"} {
			msg, err := Normalize([]byte(`{"update_id":1,"message":{"message_id":1,"chat":{"id":1},"date":` + date + `,"text":"x"}}`))
			require.NoError(t, err)
			assert.True(t, msg.OccurredAt.IsZero(), date)
		}
	})
	t.Run("chat without any name", func(t *testing.T) {
		msg, err := Normalize([]byte(`{"update_id":1,"message":{"message_id":1,"chat":{"id":77,"type":"private"},"text":"x"}}`))
		require.NoError(t, err)
		assert.Equal(t, "Telegram chat 77", msg.Subject)
		assert.Equal(t, domain.Sender{}, msg.Sender)
	})
	t.Run("private chat with only a username", func(t *testing.T) {
		msg, err := Normalize([]byte(`{"update_id":1,"message":{"message_id":1,"from":{"id":77,"first_name":"","username":"zed"},"chat":{"id":77,"type":"private","username":"zed"},"text":"x"}}`))
		require.NoError(t, err)
		assert.Equal(t, "@zed", msg.Subject)
		assert.Equal(t, domain.Sender{ExternalID: "77", DisplayName: "@zed"}, msg.Sender)
	})
	t.Run("very long text is cut", func(t *testing.T) {
		msg, err := Normalize(wrap(fmt.Sprintf(`"text":%q`, strings.Repeat("ж", providertext.MaxTextBytes))))
		require.NoError(t, err)
		assert.LessOrEqual(t, len(msg.Text), providertext.MaxTextBytes)
		assert.True(t, utf8.ValidString(msg.Text))
	})
	t.Run("long edited text stays within the cap with its prefix", func(t *testing.T) {
		body := []byte(fmt.Sprintf(`{"update_id":1,"edited_message":{"message_id":1,"chat":{"id":1},"date":1,"edit_date":2,"text":%q}}`, strings.Repeat("a", providertext.MaxTextBytes)))
		msg, err := Normalize(body)
		require.NoError(t, err)
		assert.LessOrEqual(t, len(msg.Text), providertext.MaxTextBytes)
		assert.True(t, strings.HasPrefix(msg.Text, EditedPrefix))
	})
	t.Run("callback query without data", func(t *testing.T) {
		msg, err := Normalize([]byte(`{"update_id":1,"callback_query":{"id":"q1","from":{"id":5,"first_name":"E"},"message":{"message_id":3,"chat":{"id":5,"type":"private","first_name":"E"},"date":0},"chat_instance":"1","game_short_name":"lumberjack"}}`))
		require.NoError(t, err)
		assert.Equal(t, domain.MessageCallback, msg.MessageType)
		assert.Equal(t, "[game: lumberjack]", msg.Text)
		assert.Equal(t, "5", msg.ExternalThreadID)
	})
}

func TestVerifySecretToken(t *testing.T) {
	tests := []struct {
		name          string
		expected, got string
		want          bool
	}{
		{"equal", "s3cr3t-Token_1", "s3cr3t-Token_1", true},
		{"different", "s3cr3t-Token_1", "s3cr3t-Token_2", false},
		{"prefix", "s3cr3t-Token_1", "s3cr3t", false},
		{"case matters", "s3cr3t-Token_1", "S3CR3T-TOKEN_1", false},
		{"header missing", "s3cr3t-Token_1", "", false},
		{"no token configured", "", "", false},
		{"no token configured, header sent", "", "anything", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, VerifySecretToken(tt.expected, tt.got))
		})
	}
}

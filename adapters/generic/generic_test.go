package generic

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

func TestNormalizeSeedExample(t *testing.T) {
	msg, err := Normalize(providertexttest.ReadSample(t, "seed_example.json"))
	require.NoError(t, err)
	assert.Equal(t, domain.InboundMessage{
		Provider:          domain.ProviderGenericWebhook,
		ProviderEventID:   "evt_1001",
		ExternalThreadID:  "incident_42",
		ExternalMessageID: "evt_1001",
		Subject:           "Incident opened",
		MessageType:       domain.MessageText,
		Text:              "API latency is high",
		Sender:            domain.Sender{ExternalID: "monitor", DisplayName: "monitor"},
		Labels:            []string{"ops", "urgent"},
	}, msg)
}

func TestNormalizeSamples(t *testing.T) {
	tests := []struct {
		file       string
		eventID    string
		threadID   string
		subject    string
		text       string
		sender     domain.Sender
		labels     []string
		occurredAt time.Time
	}{
		{
			file: "full.json", eventID: "evt_2001", threadID: "deploy-2024-05-01",
			subject: "Deploy failed on prod",
			text:    "Rollout of api@v1.42.0 failed.\nHealth check timed out after 30s.",
			sender:  domain.Sender{ExternalID: "ci-bot", DisplayName: "CI Bot"},
			// trimmed, blank dropped, exact duplicates removed, case kept
			labels:     []string{"ops", "deploy", "Deploy"},
			occurredAt: time.Date(2024, 5, 1, 12, 3, 7, 123000000, time.UTC),
		},
		{
			file: "text_only.json", eventID: "evt_3001", threadID: "ticket-17",
			subject: "Customer cannot log in since this morning.",
			text:    "Customer cannot log in since this morning.\nError: 403 on /login",
		},
		{
			file: "title_only.json", eventID: "evt_4001", threadID: "alert-cpu",
			subject: "CPU above 90% on db-1",
			text:    "CPU above 90% on db-1",
		},
		{
			file: "unicode.json", eventID: "evt_5001", threadID: "客服-88",
			subject: "订单 #88 未发货 📦",
			text:    "客户说：已经等了三天。\u202e", // NUL removed
			sender:  domain.Sender{ExternalID: "wx_12", DisplayName: "张三"},
			labels:  []string{"客服", "紧急"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			msg, err := Normalize(providertexttest.ReadSample(t, tt.file))
			require.NoError(t, err)
			assert.Equal(t, domain.ProviderGenericWebhook, msg.Provider)
			assert.Equal(t, domain.MessageText, msg.MessageType)
			assert.Equal(t, tt.eventID, msg.ProviderEventID)
			assert.Equal(t, tt.threadID, msg.ExternalThreadID)
			assert.Equal(t, tt.subject, msg.Subject)
			assert.Equal(t, tt.text, msg.Text)
			assert.Equal(t, tt.sender, msg.Sender)
			assert.Equal(t, tt.labels, msg.Labels)
			assert.True(t, tt.occurredAt.Equal(msg.OccurredAt), "occurred_at %v", msg.OccurredAt)
		})
	}
}

func TestNormalizeMissingFields(t *testing.T) {
	tests := []struct {
		name, body, field string
	}{
		{"no event_id", `{"thread_id":"t","text":"x"}`, "event_id"},
		{"null event_id", `{"event_id":null,"thread_id":"t","text":"x"}`, "event_id"},
		{"blank event_id", `{"event_id":"  ","thread_id":"t","text":"x"}`, "event_id"},
		{"no thread_id", `{"event_id":"e","text":"x"}`, "thread_id"},
		{"empty thread_id", `{"event_id":"e","thread_id":"","text":"x"}`, "thread_id"},
		{"no text nor title", `{"event_id":"e","thread_id":"t"}`, "text"},
		{"blank text and title", `{"event_id":"e","thread_id":"t","text":" \n ","title":"\t"}`, "text"},
		{"text of control characters only", `{"event_id":"e","thread_id":"t","text":"\u0000\u0007"}`, "text"},
		{"field names are case-sensitive", `{"Event_ID":"e","thread_id":"t","text":"x"}`, "event_id"},
		{"empty object", `{}`, "event_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Normalize([]byte(tt.body))
			providertexttest.RequireCodedError(t, err, domain.ErrMissingField, tt.field)
		})
	}
}

func TestNormalizeInvalidFields(t *testing.T) {
	const ok = `"event_id":"e","thread_id":"t","text":"x"`
	tests := []struct {
		name, body, field string
	}{
		{"numeric event_id", `{"event_id":1001,"thread_id":"t","text":"x"}`, "event_id"},
		{"object thread_id", `{"event_id":"e","thread_id":{},"text":"x"}`, "thread_id"},
		{"boolean title", `{` + ok + `,"title":true}`, "title"},
		{"array text", `{"event_id":"e","thread_id":"t","text":["x"]}`, "text"},
		{"string user", `{` + ok + `,"user":"monitor"}`, "user"},
		{"numeric user.id", `{` + ok + `,"user":{"id":42}}`, "user.id"},
		{"object user.name", `{` + ok + `,"user":{"id":"u","name":{}}}`, "user.name"},
		{"string labels", `{` + ok + `,"labels":"ops"}`, "labels"},
		{"numeric label", `{` + ok + `,"labels":["ops",7]}`, "labels[1]"},
		{"null label", `{` + ok + `,"labels":[null]}`, "labels[0]"},
		{"numeric occurred_at", `{` + ok + `,"occurred_at":1714564987}`, "occurred_at"},
		{"not RFC 3339 occurred_at", `{` + ok + `,"occurred_at":"2024-05-01 12:00"}`, "occurred_at"},
		{"occurred_at past year 9999 in UTC", `{` + ok + `,"occurred_at":"9999-12-31T23:30:00-01:00"}`, "occurred_at"},
		{"event_id too long", `{"event_id":"` + strings.Repeat("e", MaxIDRunes+1) + `","thread_id":"t","text":"x"}`, "event_id"},
		{"thread_id with a newline", `{"event_id":"e","thread_id":"a\nb","text":"x"}`, "thread_id"},
		{"user.id with NUL", `{` + ok + `,"user":{"id":"a\u0000"}}`, "user.id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Normalize([]byte(tt.body))
			providertexttest.RequireCodedError(t, err, domain.ErrInvalidField, tt.field)
		})
	}
}

func TestNormalizeInvalidPayload(t *testing.T) {
	for _, body := range []string{"", "   ", "not json", `{"event_id":`, `[{"event_id":"e"}]`, `"text"`, `null`, `42`, `{"a":1}{"b":2}`} {
		t.Run(body, func(t *testing.T) {
			_, err := Normalize([]byte(body))
			providertexttest.RequireCodedError(t, err, domain.ErrInvalidPayload, "body")
		})
	}
}

func labelsBody(labels []string) []byte {
	quoted := make([]string, len(labels))
	for i, l := range labels {
		quoted[i] = fmt.Sprintf("%q", l)
	}
	return []byte(`{"event_id":"e","thread_id":"t","text":"x","labels":[` + strings.Join(quoted, ",") + `]}`)
}

func numbered(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("label-%d", i)
	}
	return out
}

func TestNormalizeLabelLimits(t *testing.T) {
	t.Run("20 distinct labels are accepted", func(t *testing.T) {
		msg, err := Normalize(labelsBody(numbered(MaxLabels)))
		require.NoError(t, err)
		assert.Len(t, msg.Labels, MaxLabels)
	})
	t.Run("21 distinct labels are rejected", func(t *testing.T) {
		_, err := Normalize(labelsBody(numbered(MaxLabels + 1)))
		providertexttest.RequireCodedError(t, err, domain.ErrInvalidField, "labels")
	})
	t.Run("duplicates do not count towards the limit", func(t *testing.T) {
		labels := append(numbered(MaxLabels), numbered(MaxLabels)...)
		msg, err := Normalize(labelsBody(labels))
		require.NoError(t, err)
		assert.Equal(t, numbered(MaxLabels), msg.Labels)
	})
	t.Run("more than 100 raw entries are rejected", func(t *testing.T) {
		labels := make([]string, MaxLabelEntries+1)
		for i := range labels {
			labels[i] = "same"
		}
		_, err := Normalize(labelsBody(labels))
		providertexttest.RequireCodedError(t, err, domain.ErrInvalidField, "labels")
	})
	t.Run("64 characters are accepted, counted in runes", func(t *testing.T) {
		long := strings.Repeat("紧", MaxLabelRunes)
		msg, err := Normalize(labelsBody([]string{"  " + long + "  "}))
		require.NoError(t, err)
		assert.Equal(t, []string{long}, msg.Labels)
	})
	t.Run("65 characters are rejected", func(t *testing.T) {
		_, err := Normalize(labelsBody([]string{"ok", strings.Repeat("x", MaxLabelRunes+1)}))
		providertexttest.RequireCodedError(t, err, domain.ErrInvalidField, "labels[1]")
	})
	t.Run("blank labels and inner white space", func(t *testing.T) {
		msg, err := Normalize(labelsBody([]string{" ", "\t", "on  call", "on call"}))
		require.NoError(t, err)
		assert.Equal(t, []string{"on call"}, msg.Labels)
	})
	t.Run("an empty array gives no labels", func(t *testing.T) {
		msg, err := Normalize(labelsBody(nil))
		require.NoError(t, err)
		assert.Empty(t, msg.Labels)
	})
}

func TestNormalizeBounds(t *testing.T) {
	t.Run("long title is cut to the subject limit", func(t *testing.T) {
		body := fmt.Sprintf(`{"event_id":"e","thread_id":"t","title":%q}`, strings.Repeat("标题", 400))
		msg, err := Normalize([]byte(body))
		require.NoError(t, err)
		assert.Equal(t, providertext.MaxSubjectRunes, utf8.RuneCountInString(msg.Subject))
		assert.True(t, strings.HasSuffix(msg.Subject, "…"))
	})
	t.Run("subject from a long first line of text", func(t *testing.T) {
		body := fmt.Sprintf(`{"event_id":"e","thread_id":"t","text":%q}`, strings.Repeat("word ", 100)+"\nsecond line")
		msg, err := Normalize([]byte(body))
		require.NoError(t, err)
		assert.Equal(t, SubjectFromTextRunes, utf8.RuneCountInString(msg.Subject))
		assert.NotContains(t, msg.Subject, "second line")
	})
	t.Run("long text is cut rune-safely", func(t *testing.T) {
		body := fmt.Sprintf(`{"event_id":"e","thread_id":"t","text":%q}`, strings.Repeat("😀", providertext.MaxTextBytes))
		msg, err := Normalize([]byte(body))
		require.NoError(t, err)
		assert.LessOrEqual(t, len(msg.Text), providertext.MaxTextBytes)
		assert.True(t, utf8.ValidString(msg.Text))
		assert.True(t, strings.HasSuffix(msg.Text, "…"))
	})
	t.Run("odd strings come out as valid UTF-8", func(t *testing.T) {
		body := []byte("{\"event_id\":\"e\",\"thread_id\":\"t\",\"title\":\"a\xffb\",\"text\":\"\\ud800 lone surrogate\"}")
		msg, err := Normalize(body)
		require.NoError(t, err)
		assert.Equal(t, "a\uFFFDb", msg.Subject)
		assert.Equal(t, "\uFFFD lone surrogate", msg.Text)
	})
}

func TestVerifySignature(t *testing.T) {
	const secret = "whsec_test"
	body := providertexttest.ReadSample(t, "seed_example.json")
	now := time.Unix(1714564987, 0)
	ts := "1714564987"
	good := Sign(secret, ts, body)

	tests := []struct {
		name      string
		secret    string
		timestamp string
		signature string
		body      []byte
		now       time.Time
		want      error
	}{
		{"good", secret, ts, good, body, now, nil},
		{"good with sha256= prefix", secret, ts, "sha256=" + good, body, now, nil},
		{"good in upper case", secret, ts, "SHA256=" + strings.ToUpper(good), body, now, nil},
		{"good at the edge of the window, 5 minutes late", secret, ts, good, body, now.Add(5 * time.Minute), nil},
		{"good at the edge of the window, 5 minutes early", secret, ts, good, body, now.Add(-5 * time.Minute), nil},
		{"stale: older than 5 minutes", secret, ts, good, body, now.Add(5*time.Minute + time.Second), ErrStaleTimestamp},
		{"stale: from the future", secret, ts, good, body, now.Add(-5*time.Minute - time.Second), ErrStaleTimestamp},
		{"stale: zero", secret, "0", Sign(secret, "0", body), body, now, ErrStaleTimestamp},
		{"missing timestamp", secret, "", good, body, now, ErrMissingTimestamp},
		{"timestamp not digits", secret, "2024-05-01T12:00:00Z", good, body, now, ErrInvalidTimestamp},
		{"negative timestamp", secret, "-1714564987", good, body, now, ErrInvalidTimestamp},
		{"timestamp overflowing int64", secret, "99999999999999999999", good, body, now, ErrInvalidTimestamp},
		{"missing signature", secret, ts, "", body, now, ErrMissingSignature},
		{"only the prefix", secret, ts, "sha256=", body, now, ErrMissingSignature},
		{"wrong secret", "other", ts, good, body, now, ErrBadSignature},
		{"tampered body", secret, ts, good, append([]byte(" "), body...), now, ErrBadSignature},
		{"signature of another timestamp", secret, ts, Sign(secret, "1714564988", body), body, now, ErrBadSignature},
		{"not hex", secret, ts, "zz" + good[2:], body, now, ErrBadSignature},
		{"truncated", secret, ts, good[:32], body, now, ErrBadSignature},
		{"no secret configured", "", ts, Sign("", ts, body), body, now, ErrMissingSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifySignature(tt.secret, tt.timestamp, tt.signature, tt.body, tt.now)
			if tt.want == nil {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, tt.want)
		})
	}
}

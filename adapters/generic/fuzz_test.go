package generic

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/socialops/socialops/domain"
)

// FuzzNormalize checks that Normalize never panics and either returns a
// *domain.Error or a well-formed, bounded message. Its seed corpus (the
// testdata samples and testdata/fuzz/FuzzNormalize) runs in every go test.
func FuzzNormalize(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no testdata samples: %v", err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"event_id":"e","thread_id":"t","text":"\u0000","title":"\ud800"}`))
	f.Add([]byte(`{"event_id":"e","thread_id":"t","text":"x","occurred_at":"0000-01-01T00:00:00+01:00"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		msg, err := Normalize(body)
		checkNormalized(t, msg, err)
	})
}

func checkNormalized(t *testing.T, msg domain.InboundMessage, err error) {
	t.Helper()
	if err != nil {
		var de *domain.Error
		if !errors.As(err, &de) {
			t.Fatalf("error is not a *domain.Error: %T %v", err, err)
		}
		return
	}
	if msg.Provider == "" || msg.ProviderEventID == "" || msg.ExternalThreadID == "" || msg.MessageType == "" {
		t.Fatalf("required output field empty: %+v", msg)
	}
	strs := map[string]string{
		"provider": msg.Provider, "provider_event_id": msg.ProviderEventID,
		"external_thread_id": msg.ExternalThreadID, "external_message_id": msg.ExternalMessageID,
		"subject": msg.Subject, "message_type": msg.MessageType, "text": msg.Text,
		"sender.external_id": msg.Sender.ExternalID, "sender.display_name": msg.Sender.DisplayName,
	}
	for name, s := range strs {
		if !utf8.ValidString(s) {
			t.Fatalf("%s is not valid UTF-8: %q", name, s)
		}
		if strings.ContainsRune(s, 0) {
			t.Fatalf("%s contains NUL: %q", name, s)
		}
	}
	if len(msg.Labels) > MaxLabels {
		t.Fatalf("%d labels", len(msg.Labels))
	}
	for _, l := range msg.Labels {
		if l == "" || !utf8.ValidString(l) || strings.ContainsRune(l, 0) || utf8.RuneCountInString(l) > MaxLabelRunes {
			t.Fatalf("bad label %q", l)
		}
	}
	if len(msg.Text) > MaxTextBytes {
		t.Fatalf("text is %d bytes", len(msg.Text))
	}
	if n := utf8.RuneCountInString(msg.Subject); n > MaxSubjectRunes {
		t.Fatalf("subject is %d runes", n)
	}
	if n := utf8.RuneCountInString(msg.Sender.DisplayName); n > MaxDisplayNameRunes {
		t.Fatalf("display name is %d runes", n)
	}
	if _, err := json.Marshal(msg); err != nil {
		t.Fatalf("message does not marshal: %v", err)
	}
}

// Package providertexttest holds the test helpers the provider normalizer
// tests (adapters/generic, adapters/telegram and adapters/github) share:
// reading testdata samples, asserting coded errors, and the property every
// Normalize result must have, which their fuzz targets check.
package providertexttest

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/providertext"
	"github.com/socialops/socialops/domain"
)

// Samples lists the testdata files matching the patterns (relative to the
// testdata folder, for example "*.json" or "handwritten/*.json"), as sorted
// paths relative to testdata. It fails t when nothing matches.
func Samples(t testing.TB, patterns ...string) []string {
	t.Helper()
	var names []string
	for _, pattern := range patterns {
		matches, err := filepath.Glob(filepath.Join("testdata", pattern))
		require.NoError(t, err)
		for _, m := range matches {
			rel, err := filepath.Rel("testdata", m)
			require.NoError(t, err)
			names = append(names, rel)
		}
	}
	require.NotEmpty(t, names, "no testdata samples match %q", patterns)
	sort.Strings(names)
	return names
}

// ReadSample returns the content of testdata/name, failing t when it cannot
// be read.
func ReadSample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

// RequireCodedError asserts err is a *domain.Error with base's code whose
// message names field.
func RequireCodedError(t testing.TB, err error, base *domain.Error, field string) {
	t.Helper()
	var de *domain.Error
	require.ErrorAs(t, err, &de)
	assert.ErrorIs(t, err, base, "got %v", err)
	assert.Contains(t, de.Message, field)
}

// LabelLimits bound the labels of a provider's messages. The zero value means
// the provider sets no labels at all.
type LabelLimits struct {
	Max      int // labels per message
	MaxRunes int // characters per label
}

// CheckNormalized fails t unless msg and err are a valid result of a provider's
// Normalize: either err is a *domain.Error, or msg has its required fields,
// every string is valid UTF-8 without NUL, labels keep labels, text, subject
// and display name keep the providertext bounds, and msg marshals to JSON.
func CheckNormalized(t testing.TB, msg domain.InboundMessage, err error, labels LabelLimits) {
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
	if labels == (LabelLimits{}) {
		if len(msg.Labels) != 0 {
			t.Fatalf("%s messages have no labels: %q", msg.Provider, msg.Labels)
		}
	} else {
		if len(msg.Labels) > labels.Max {
			t.Fatalf("%d labels", len(msg.Labels))
		}
		for _, l := range msg.Labels {
			if l == "" || !utf8.ValidString(l) || strings.ContainsRune(l, 0) || utf8.RuneCountInString(l) > labels.MaxRunes {
				t.Fatalf("bad label %q", l)
			}
		}
	}
	if len(msg.Text) > providertext.MaxTextBytes {
		t.Fatalf("text is %d bytes", len(msg.Text))
	}
	if n := utf8.RuneCountInString(msg.Subject); n > providertext.MaxSubjectRunes {
		t.Fatalf("subject is %d runes", n)
	}
	if n := utf8.RuneCountInString(msg.Sender.DisplayName); n > providertext.MaxDisplayNameRunes {
		t.Fatalf("display name is %d runes", n)
	}
	if _, err := json.Marshal(msg); err != nil {
		t.Fatalf("message does not marshal: %v", err)
	}
}

// Package generic normalizes deliveries of the generic-webhook provider: any
// system that can POST a small JSON document.
//
// The body is a JSON object:
//
//	{
//	  "event_id": "evt_1001",          // required, string: de-duplication key
//	  "thread_id": "incident_42",      // required, string: messages with the same thread_id share a thread
//	  "title": "Incident opened",      // optional, string: the thread subject
//	  "text": "API latency is high",   // optional, string: the message text
//	  "user": {"id": "monitor",        // optional object; id and name are optional strings
//	           "name": "Monitoring"},
//	  "labels": ["ops", "urgent"],     // optional array of strings
//	  "occurred_at": "2024-05-01T12:00:00Z" // optional, RFC 3339
//	}
//
// Rules (a user sees them as 400 responses with a stable error code):
//
//   - The body must be a JSON object (ErrInvalidPayload otherwise).
//   - event_id and thread_id are required: absent, null or blank is
//     ErrMissingField naming the field. They are trimmed, must be at most
//     MaxIDRunes characters and must not contain control characters
//     (ErrInvalidField).
//   - At least one of text and title must be non-blank (ErrMissingField naming
//     "text"). Text is the message text; with only a title, the title is also
//     the text.
//   - Subject is the title; without one, the first line of the text cut to
//     SubjectFromTextRunes characters. Subjects are single-line and at most
//     providertext.MaxSubjectRunes characters; text is at most
//     providertext.MaxTextBytes bytes; longer values are cut (never rejected)
//     and end in "…".
//   - A field of the wrong JSON type (a number for event_id, a string for
//     labels, …) is ErrInvalidField naming the field. null counts as absent
//     for every field. Unknown fields are ignored; field names are
//     case-sensitive.
//   - Sender.ExternalID is user.id; Sender.DisplayName is user.name, else user.id.
//   - Labels are trimmed (inner white space collapsed), blank ones dropped and
//     duplicates (exact, case-sensitive) removed, keeping the first order.
//     More than MaxLabels distinct labels, a label longer than MaxLabelRunes
//     characters, or more than MaxLabelEntries array entries is ErrInvalidField.
//   - occurred_at must be an RFC 3339 timestamp between years 1 and 9999 (UTC)
//     or ErrInvalidField; it is stored in UTC.
//   - ExternalMessageID is the event_id; MessageType is always "text".
package generic

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/socialops/socialops/adapters/providertext"
	"github.com/socialops/socialops/domain"
)

// Input limits of the generic webhook body.
const (
	MaxIDRunes           = 256 // event_id, thread_id and user.id
	MaxLabels            = 20  // distinct labels after trimming and de-duplication
	MaxLabelRunes        = 64  // characters per label after trimming
	MaxLabelEntries      = 100 // raw entries in the labels array, duplicates included
	SubjectFromTextRunes = 100 // subject taken from the text when there is no title
)

// Normalize turns a generic-webhook body into an inbound message, or returns a
// *domain.Error (ErrInvalidPayload, ErrMissingField or ErrInvalidField).
func Normalize(body []byte) (domain.InboundMessage, error) {
	fields, err := decodeObject(body)
	if err != nil {
		return domain.InboundMessage{}, err
	}

	eventID, err := requiredID(fields, "event_id")
	if err != nil {
		return domain.InboundMessage{}, err
	}
	threadID, err := requiredID(fields, "thread_id")
	if err != nil {
		return domain.InboundMessage{}, err
	}
	title, _, err := stringField(fields, "title", "title")
	if err != nil {
		return domain.InboundMessage{}, err
	}
	text, _, err := stringField(fields, "text", "text")
	if err != nil {
		return domain.InboundMessage{}, err
	}
	subject := providertext.CleanLine(title, providertext.MaxSubjectRunes)
	msgText := providertext.CleanText(text, providertext.MaxTextBytes)
	if msgText == "" {
		msgText = providertext.CleanText(title, providertext.MaxTextBytes)
	}
	if msgText == "" {
		return domain.InboundMessage{}, domain.Errorf(domain.ErrMissingField, "text (or title) is required")
	}
	if subject == "" {
		subject = providertext.CleanLine(providertext.FirstLine(msgText), SubjectFromTextRunes)
	}

	sender, err := parseUser(fields)
	if err != nil {
		return domain.InboundMessage{}, err
	}
	labels, err := parseLabels(fields)
	if err != nil {
		return domain.InboundMessage{}, err
	}
	occurredAt, err := parseOccurredAt(fields)
	if err != nil {
		return domain.InboundMessage{}, err
	}

	return domain.InboundMessage{
		Provider:          domain.ProviderGenericWebhook,
		ProviderEventID:   eventID,
		ExternalThreadID:  threadID,
		ExternalMessageID: eventID,
		Subject:           subject,
		MessageType:       domain.MessageText,
		Text:              msgText,
		Sender:            sender,
		Labels:            labels,
		OccurredAt:        occurredAt,
	}, nil
}

// decodeObject decodes body as a JSON object into its raw fields.
func decodeObject(body []byte) (map[string]json.RawMessage, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			return nil, domain.Errorf(domain.ErrInvalidPayload, "the body is not valid JSON (at byte %d)", syntax.Offset)
		}
		if len(bytes.TrimSpace(body)) == 0 {
			return nil, domain.Errorf(domain.ErrInvalidPayload, "the body is empty")
		}
		return nil, domain.Errorf(domain.ErrInvalidPayload, "the body must be a JSON object")
	}
	if fields == nil {
		return nil, domain.Errorf(domain.ErrInvalidPayload, "the body must be a JSON object")
	}
	return fields, nil
}

// stringField reads an optional string field; name is how errors call it.
func stringField(fields map[string]json.RawMessage, key, name string) (string, bool, error) {
	raw, ok := fields[key]
	if !ok || !providertext.Present(raw) {
		return "", false, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false, domain.Errorf(domain.ErrInvalidField, "%s must be a string", name)
	}
	return s, true, nil
}

// requiredID reads a required identifier field.
func requiredID(fields map[string]json.RawMessage, name string) (string, error) {
	s, _, err := stringField(fields, name, name)
	if err != nil {
		return "", err
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return "", domain.Errorf(domain.ErrMissingField, "%s is required", name)
	}
	return s, checkID(s, name)
}

// checkID validates a trimmed identifier.
func checkID(s, name string) error {
	if utf8.RuneCountInString(s) > MaxIDRunes {
		return domain.Errorf(domain.ErrInvalidField, "%s must be at most %d characters", name, MaxIDRunes)
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 || !utf8.ValidString(s) {
		return domain.Errorf(domain.ErrInvalidField, "%s must not contain control characters", name)
	}
	return nil
}

func parseUser(fields map[string]json.RawMessage) (domain.Sender, error) {
	raw, ok := fields["user"]
	if !ok || !providertext.Present(raw) {
		return domain.Sender{}, nil
	}
	var user map[string]json.RawMessage
	if err := json.Unmarshal(raw, &user); err != nil || user == nil {
		return domain.Sender{}, domain.Errorf(domain.ErrInvalidField, "user must be an object")
	}
	id, _, err := stringField(user, "id", "user.id")
	if err != nil {
		return domain.Sender{}, err
	}
	id = strings.TrimSpace(id)
	if id != "" {
		if err := checkID(id, "user.id"); err != nil {
			return domain.Sender{}, err
		}
	}
	name, _, err := stringField(user, "name", "user.name")
	if err != nil {
		return domain.Sender{}, err
	}
	display := providertext.CleanLine(name, providertext.MaxDisplayNameRunes)
	if display == "" {
		display = providertext.CleanLine(id, providertext.MaxDisplayNameRunes)
	}
	return domain.Sender{ExternalID: id, DisplayName: display}, nil
}

func parseLabels(fields map[string]json.RawMessage) ([]string, error) {
	raw, ok := fields["labels"]
	if !ok || !providertext.Present(raw) {
		return nil, nil
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(raw, &entries); err != nil {
		return nil, domain.Errorf(domain.ErrInvalidField, "labels must be an array of strings")
	}
	if len(entries) > MaxLabelEntries {
		return nil, domain.Errorf(domain.ErrInvalidField, "labels must have at most %d entries", MaxLabelEntries)
	}
	var labels []string
	seen := make(map[string]bool, len(entries))
	for i, entry := range entries {
		var s string
		if !providertext.Present(entry) || json.Unmarshal(entry, &s) != nil {
			return nil, domain.Errorf(domain.ErrInvalidField, "labels[%d] must be a string", i)
		}
		label := providertext.CleanLine(s, MaxLabelRunes+1)
		if label == "" || seen[label] {
			continue
		}
		if utf8.RuneCountInString(label) > MaxLabelRunes {
			return nil, domain.Errorf(domain.ErrInvalidField, "labels[%d] must be at most %d characters", i, MaxLabelRunes)
		}
		seen[label] = true
		labels = append(labels, label)
	}
	if len(labels) > MaxLabels {
		return nil, domain.Errorf(domain.ErrInvalidField, "labels must have at most %d distinct labels", MaxLabels)
	}
	return labels, nil
}

func parseOccurredAt(fields map[string]json.RawMessage) (time.Time, error) {
	s, ok, err := stringField(fields, "occurred_at", "occurred_at")
	if err != nil || !ok {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
	if err != nil {
		return time.Time{}, domain.Errorf(domain.ErrInvalidField, "occurred_at must be an RFC 3339 timestamp such as 2024-05-01T12:00:00Z")
	}
	t = t.UTC()
	if t.Year() < 1 || t.Year() > 9999 {
		return time.Time{}, domain.Errorf(domain.ErrInvalidField, "occurred_at must be between years 1 and 9999")
	}
	return t, nil
}

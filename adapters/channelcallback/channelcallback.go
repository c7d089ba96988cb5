// Package channelcallback is seed 003's signed channel callback
// (/channel/{channelType}/callback) for the wechat, douyin and jd channel
// servers: the signature check and the normalizer of its JSON message into
// an inbound message of provider wechat, douyin or jd. It imports the domain
// and providertext only.
//
// The signature is X-Signature: lower-case hex HMAC-SHA256, keyed with the
// instance's secret for the channel type, of X-Timestamp + "\n" + X-Nonce +
// "\n" + body; X-Timestamp is unix seconds within the tolerance (5 min) and
// X-Nonce 1–64 characters, never accepted twice within it (the HTTP layer
// keeps the nonces in Postgres).
//
// Mapping of the body (named like seed 003's MessageInfo):
//
//   - ProviderEventID and ExternalMessageID are msgId (required, 1–128).
//   - ExternalThreadID and Sender.ExternalID are customerId (required,
//     1–64): one thread per customer of the channel; DisplayName is
//     customerName, else customerId.
//   - Text is content (required, 1–4,096 characters); msgType text (default),
//     image or file; each attachment adds a line "[attachment: name] url".
//   - OccurredAt is createdAt (RFC 3339), zero when absent.
package channelcallback

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/socialops/socialops/adapters/providertext"
	"github.com/socialops/socialops/domain"
)

// Channel types of seed 003.
const (
	WeChat = "wechat"
	Douyin = "douyin"
	JD     = "jd"
)

// Known reports whether channelType is one of seed 003's channel types.
func Known(channelType string) bool {
	return channelType == WeChat || channelType == Douyin || channelType == JD
}

// Signature failures.
var (
	ErrMissingHeaders = errors.New("X-Signature, X-Timestamp and X-Nonce are required")
	ErrBadNonce       = errors.New("X-Nonce must be 1 to 64 characters")
	ErrStale          = errors.New("X-Timestamp is outside the tolerance")
	ErrBadSignature   = errors.New("X-Signature does not match")
)

// Sign is the X-Signature of a callback.
func Sign(secret, timestamp, nonce string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp))
	mac.Write([]byte("\n"))
	mac.Write([]byte(nonce))
	mac.Write([]byte("\n"))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a callback's headers and signature at now.
func Verify(secret, signature, timestamp, nonce string, body []byte, now time.Time, tolerance time.Duration) error {
	if signature == "" || timestamp == "" || nonce == "" {
		return ErrMissingHeaders
	}
	if len(nonce) > 64 {
		return ErrBadNonce
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil || len(timestamp) > 12 {
		return ErrStale
	}
	if age := now.Sub(time.Unix(ts, 0)); age > tolerance || age < -tolerance {
		return ErrStale
	}
	if !hmac.Equal([]byte(signature), []byte(Sign(secret, timestamp, nonce, body))) {
		return ErrBadSignature
	}
	return nil
}

// Message is the callback body.
type Message struct {
	MsgID        string       `json:"msgId"`
	CustomerID   string       `json:"customerId"`
	CustomerName string       `json:"customerName"`
	Content      string       `json:"content"`
	MsgType      string       `json:"msgType"`
	CreatedAt    string       `json:"createdAt"`
	Attachments  []Attachment `json:"attachments"`
}

// Attachment is a file or image the customer sent.
type Attachment struct {
	URL  string `json:"url"`
	Name string `json:"name"`
}

const maxAttachments = 20

// Normalize turns a callback body of channelType into an inbound message.
func Normalize(channelType string, body []byte) (domain.InboundMessage, error) {
	var m Message
	if _, err := providertext.DecodeObject(body, &m, "a channel message"); err != nil {
		return domain.InboundMessage{}, err
	}
	id := providertext.CleanLine(m.MsgID, 129)
	switch n := utf8.RuneCountInString(id); {
	case n == 0:
		return domain.InboundMessage{}, domain.Errorf(domain.ErrMissingField, "msgId is required")
	case n > 128:
		return domain.InboundMessage{}, domain.Errorf(domain.ErrInvalidField, "msgId must be at most 128 characters")
	}
	customer := providertext.CleanLine(m.CustomerID, 65)
	switch n := utf8.RuneCountInString(customer); {
	case n == 0:
		return domain.InboundMessage{}, domain.Errorf(domain.ErrMissingField, "customerId is required")
	case n > 64:
		return domain.InboundMessage{}, domain.Errorf(domain.ErrInvalidField, "customerId must be at most 64 characters")
	}
	if strings.TrimSpace(m.Content) == "" {
		return domain.InboundMessage{}, domain.Errorf(domain.ErrMissingField, "content is required")
	}
	if utf8.RuneCountInString(m.Content) > 4096 {
		return domain.InboundMessage{}, domain.Errorf(domain.ErrInvalidField, "content must be at most 4096 characters")
	}
	msgType := domain.MessageText
	switch m.MsgType {
	case "", "text":
	case "image":
		msgType = domain.MessagePhoto
	case "file":
		msgType = domain.MessageDocument
	default:
		return domain.InboundMessage{}, domain.Errorf(domain.ErrInvalidField, "msgType must be text, image or file")
	}
	if len(m.Attachments) > maxAttachments {
		return domain.InboundMessage{}, domain.Errorf(domain.ErrInvalidField, "attachments holds at most %d items", maxAttachments)
	}
	text := m.Content
	for i, a := range m.Attachments {
		url := providertext.CleanLine(a.URL, 2048)
		if url == "" {
			return domain.InboundMessage{}, domain.Errorf(domain.ErrMissingField, "attachments[%d].url is required", i)
		}
		name := providertext.CleanLine(a.Name, 200)
		if name == "" {
			name = "file"
		}
		text += "\n[attachment: " + name + "] " + url
	}
	msg := domain.InboundMessage{
		Provider:          channelType,
		ProviderEventID:   id,
		ExternalThreadID:  customer,
		ExternalMessageID: id,
		MessageType:       msgType,
		Text:              providertext.CleanText(text, providertext.MaxTextBytes),
		Sender:            domain.Sender{ExternalID: customer, DisplayName: customer},
	}
	if name := providertext.CleanLine(m.CustomerName, providertext.MaxDisplayNameRunes); name != "" {
		msg.Sender.DisplayName = name
	}
	msg.Subject = providertext.TruncateRunes(channelType+" "+msg.Sender.DisplayName, providertext.MaxSubjectRunes)
	if m.CreatedAt != "" {
		t, err := time.Parse(time.RFC3339, m.CreatedAt)
		if err != nil {
			return domain.InboundMessage{}, domain.Errorf(domain.ErrInvalidField, "createdAt must be an RFC 3339 time")
		}
		if t.Year() >= 1 && t.Year() <= 9999 {
			msg.OccurredAt = t.UTC()
		}
	}
	return msg, nil
}

// Package wecom is the WeCom (企业微信) provider: the WXBizMsgCrypt callback
// crypto (crypto.go), the normalizer of decrypted callback XML into inbound
// messages (this file), and the sender of replies through the WeCom API
// (sender.go). It imports the domain and providertext only.
//
// Mapping of a decrypted callback message:
//
//   - ProviderEventID is MsgId; an event message has none, so it is
//     "event:<FromUserName>:<CreateTime>:<Event>", WeCom's documented
//     deduplication key for events.
//   - ExternalThreadID is "<ToUserName>:<FromUserName>" (corp id, user id):
//     one thread per user of a corp. Sender.ExternalID is the user id.
//   - Text is Content for text; other types get a readable placeholder:
//     "[image]", "[voice]" (with its recognition when WeCom sends one),
//     "[video]", "[file: name]", "[location: 23.13, 113.26 Label]",
//     "[link: Title] Url", "[event: enter_agent]"; anything else
//     "[unsupported message: type]" of type "other".
//   - OccurredAt is CreateTime (unix seconds), zero when absent.
//
// A body that is not XML with an <xml> root is ErrInvalidPayload; a missing
// FromUserName, ToUserName, MsgType or (for a non-event) MsgId is
// ErrMissingField naming it.
package wecom

import (
	"bytes"
	"encoding/xml"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/socialops/socialops/adapters/providertext"
	"github.com/socialops/socialops/domain"
)

// Provider is the provider name of WeCom messages and threads.
const Provider = "wecom"

// maxIDRunes bounds the ids taken from a message (user, corp, MsgId).
const maxIDRunes = 128

// maxUnix is 9999-12-31T23:59:59Z: later times cannot be encoded as JSON.
const maxUnix = 253402300799

// Envelope is the encrypted POST body: <xml><ToUserName/><Encrypt/><AgentID/></xml>.
type Envelope struct {
	XMLName    xml.Name `xml:"xml"`
	ToUserName string   `xml:"ToUserName"`
	Encrypt    string   `xml:"Encrypt"`
	AgentID    string   `xml:"AgentID"`
}

// ParseEnvelope reads the Encrypt element of a callback body.
func ParseEnvelope(body []byte) (Envelope, error) {
	var env Envelope
	if err := decodeXML(body, &env); err != nil {
		return Envelope{}, err
	}
	if strings.TrimSpace(env.Encrypt) == "" {
		return Envelope{}, domain.Errorf(domain.ErrMissingField, "Encrypt is required")
	}
	env.Encrypt = strings.TrimSpace(env.Encrypt)
	return env, nil
}

// Message is a decrypted callback message, as WeCom names its elements.
type Message struct {
	XMLName      xml.Name `xml:"xml"`
	ToUserName   string   `xml:"ToUserName"`
	FromUserName string   `xml:"FromUserName"`
	CreateTime   string   `xml:"CreateTime"`
	MsgType      string   `xml:"MsgType"`
	Content      string   `xml:"Content"`
	MsgID        string   `xml:"MsgId"`
	AgentID      string   `xml:"AgentID"`
	PicURL       string   `xml:"PicUrl"`
	MediaID      string   `xml:"MediaId"`
	Format       string   `xml:"Format"`
	Recognition  string   `xml:"Recognition"`
	FileName     string   `xml:"FileName"`
	LocationX    string   `xml:"Location_X"`
	LocationY    string   `xml:"Location_Y"`
	Label        string   `xml:"Label"`
	Title        string   `xml:"Title"`
	Description  string   `xml:"Description"`
	URL          string   `xml:"Url"`
	Event        string   `xml:"Event"`
	EventKey     string   `xml:"EventKey"`
}

func decodeXML(body []byte, v any) error {
	if !utf8.Valid(body) {
		return domain.Errorf(domain.ErrInvalidPayload, "the XML is not valid UTF-8")
	}
	dec := xml.NewDecoder(bytes.NewReader(body))
	dec.Strict = true
	if err := dec.Decode(v); err != nil {
		return domain.Errorf(domain.ErrInvalidPayload, "the body is not WeCom XML: %s", providertext.CleanLine(err.Error(), 200))
	}
	return nil
}

// Normalize turns a decrypted callback message into an inbound message.
func Normalize(plain []byte) (domain.InboundMessage, error) {
	var m Message
	if err := decodeXML(plain, &m); err != nil {
		return domain.InboundMessage{}, err
	}
	line := func(s string) string { return providertext.CleanLine(s, maxIDRunes) }
	from, to, msgType := line(m.FromUserName), line(m.ToUserName), line(m.MsgType)
	switch {
	case from == "":
		return domain.InboundMessage{}, domain.Errorf(domain.ErrMissingField, "FromUserName is required")
	case to == "":
		return domain.InboundMessage{}, domain.Errorf(domain.ErrMissingField, "ToUserName is required")
	case msgType == "":
		return domain.InboundMessage{}, domain.Errorf(domain.ErrMissingField, "MsgType is required")
	}
	msg := domain.InboundMessage{
		Provider:         Provider,
		ExternalThreadID: to + ":" + from,
		Subject:          providertext.TruncateRunes("WeCom "+from, providertext.MaxSubjectRunes),
		Sender:           domain.Sender{ExternalID: from, DisplayName: providertext.CleanLine(from, providertext.MaxDisplayNameRunes)},
	}
	createTime := strings.TrimSpace(m.CreateTime)
	if sec, err := strconv.ParseInt(createTime, 10, 64); err == nil && sec > 0 && sec <= maxUnix {
		msg.OccurredAt = time.Unix(sec, 0).UTC()
	}
	if msgType == "event" {
		event := line(m.Event)
		if event == "" {
			return domain.InboundMessage{}, domain.Errorf(domain.ErrMissingField, "Event is required for an event message")
		}
		msg.ProviderEventID = "event:" + from + ":" + line(createTime) + ":" + event
		msg.MessageType = domain.MessageEvent
		msg.Text = "[event: " + event + "]"
		if key := line(m.EventKey); key != "" {
			msg.Text += " " + key
		}
	} else {
		id := line(m.MsgID)
		if id == "" {
			return domain.InboundMessage{}, domain.Errorf(domain.ErrMissingField, "MsgId is required")
		}
		msg.ProviderEventID = id
		msg.ExternalMessageID = id
		msg.MessageType, msg.Text = body(msgType, &m)
	}
	msg.Text = providertext.CleanText(msg.Text, providertext.MaxTextBytes)
	return msg, nil
}

func body(msgType string, m *Message) (string, string) {
	part := func(s string) string { return providertext.CleanLine(s, 200) }
	switch msgType {
	case "text":
		return domain.MessageText, m.Content
	case "image":
		return domain.MessagePhoto, "[image]"
	case "voice":
		if r := part(m.Recognition); r != "" {
			return domain.MessageVoice, "[voice] " + r
		}
		return domain.MessageVoice, "[voice]"
	case "video":
		return domain.MessageVideo, "[video]"
	case "file":
		if n := part(m.FileName); n != "" {
			return domain.MessageDocument, "[file: " + n + "]"
		}
		return domain.MessageDocument, "[file]"
	case "location":
		s := "[location: " + part(m.LocationX) + ", " + part(m.LocationY)
		if l := part(m.Label); l != "" {
			s += " " + l
		}
		return domain.MessageLocation, s + "]"
	case "link":
		s := "[link: " + part(m.Title) + "]"
		if u := part(m.URL); u != "" {
			s += " " + u
		}
		return domain.MessageOther, s
	}
	return domain.MessageOther, "[unsupported message: " + part(msgType) + "]"
}

package wecom_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/providertext/providertexttest"
	"github.com/socialops/socialops/adapters/wecom"
	"github.com/socialops/socialops/domain"
)

func TestNormalizeSamples(t *testing.T) {
	cases := []struct {
		file, eventID, msgType, text string
	}{
		{"text.xml", "4561255354251345929", domain.MessageText, "hello"},
		{"image.xml", "1234567890123456", domain.MessagePhoto, "[image]"},
		{"voice.xml", "1234567890123457", domain.MessageVoice, "[voice]"},
		{"video.xml", "1234567890123458", domain.MessageVideo, "[video]"},
		{"file.xml", "1234567890123459", domain.MessageDocument, "[file: 报价单.pdf]"},
		{"location.xml", "1234567890123460", domain.MessageLocation, "[location: 23.134, 113.358 位置信息]"},
		{"link.xml", "1234567890123461", domain.MessageOther, "[link: this is a title] https://example.com/a"},
		{"event_enter_agent.xml", "event:zhangsan:1408091189:enter_agent", domain.MessageEvent, "[event: enter_agent]"},
		{"event_subscribe.xml", "event:lisi:1408091190:subscribe", domain.MessageEvent, "[event: subscribe]"},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			msg, err := wecom.Normalize(providertexttest.ReadSample(t, tc.file))
			require.NoError(t, err)
			require.Equal(t, wecom.Provider, msg.Provider)
			require.Equal(t, tc.eventID, msg.ProviderEventID)
			require.Equal(t, tc.msgType, msg.MessageType)
			require.Equal(t, tc.text, msg.Text)
			require.NotEmpty(t, msg.Sender.ExternalID)
			require.Contains(t, msg.ExternalThreadID, ":"+msg.Sender.ExternalID)
		})
	}
	msg, err := wecom.Normalize(providertexttest.ReadSample(t, "text.xml"))
	require.NoError(t, err)
	require.Equal(t, time.Unix(1409659813, 0).UTC(), msg.OccurredAt)
}

func TestNormalizeRefusals(t *testing.T) {
	_, err := wecom.Normalize([]byte("hello, not xml"))
	providertexttest.RequireCodedError(t, err, domain.ErrInvalidPayload, "")
	_, err = wecom.Normalize([]byte(`{"json":true}`))
	providertexttest.RequireCodedError(t, err, domain.ErrInvalidPayload, "")
	_, err = wecom.Normalize([]byte(`<xml><ToUserName>ww</ToUserName><FromUserName>u</FromUserName><MsgType>text</MsgType></xml>`))
	providertexttest.RequireCodedError(t, err, domain.ErrMissingField, "MsgId")
	_, err = wecom.Normalize([]byte(`<xml><ToUserName>ww</ToUserName><MsgType>text</MsgType><MsgId>1</MsgId></xml>`))
	providertexttest.RequireCodedError(t, err, domain.ErrMissingField, "FromUserName")
	_, err = wecom.ParseEnvelope([]byte(`<xml><ToUserName>ww</ToUserName></xml>`))
	providertexttest.RequireCodedError(t, err, domain.ErrMissingField, "Encrypt")
}

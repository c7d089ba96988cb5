package channelcallback_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/channelcallback"
	"github.com/socialops/socialops/adapters/providertext/providertexttest"
	"github.com/socialops/socialops/domain"
)

func TestVerify(t *testing.T) {
	now := time.Unix(1_770_000_000, 0)
	body := []byte(`{"msgId":"1"}`)
	ts := "1770000000"
	sig := channelcallback.Sign("s3cret-s3cret", ts, "n-1", body)
	require.NoError(t, channelcallback.Verify("s3cret-s3cret", sig, ts, "n-1", body, now, 5*time.Minute))
	require.ErrorIs(t, channelcallback.Verify("other-secret", sig, ts, "n-1", body, now, 5*time.Minute), channelcallback.ErrBadSignature)
	require.ErrorIs(t, channelcallback.Verify("s3cret-s3cret", sig, ts, "n-2", body, now, 5*time.Minute), channelcallback.ErrBadSignature)
	require.ErrorIs(t, channelcallback.Verify("s3cret-s3cret", sig, ts, "n-1", body, now.Add(6*time.Minute), 5*time.Minute), channelcallback.ErrStale)
	require.ErrorIs(t, channelcallback.Verify("s3cret-s3cret", "", ts, "n-1", body, now, 5*time.Minute), channelcallback.ErrMissingHeaders)
	long := string(make([]byte, 65))
	require.ErrorIs(t, channelcallback.Verify("s3cret-s3cret", sig, ts, long, body, now, 5*time.Minute), channelcallback.ErrBadNonce)
}

func TestNormalize(t *testing.T) {
	msg, err := channelcallback.Normalize("wechat", providertexttest.ReadSample(t, "text.json"))
	require.NoError(t, err)
	require.Equal(t, "wechat", msg.Provider)
	require.Equal(t, "wx_msg_001", msg.ProviderEventID)
	require.Equal(t, "o6_bmjrPTlm6_2sgVt7hMZOPfL2M", msg.ExternalThreadID)
	require.Equal(t, "张三", msg.Sender.DisplayName)
	require.Equal(t, time.Date(2026, 2, 24, 2, 0, 0, 0, time.UTC), msg.OccurredAt)

	msg, err = channelcallback.Normalize("jd", providertexttest.ReadSample(t, "file.json"))
	require.NoError(t, err)
	require.Equal(t, domain.MessageDocument, msg.MessageType)
	require.Equal(t, "发票\n[attachment: invoice.pdf] https://example.com/invoice.pdf", msg.Text)

	for body, field := range map[string]string{
		`{"customerId":"c","content":"x"}`:                                     "msgId",
		`{"msgId":"m","content":"x"}`:                                          "customerId",
		`{"msgId":"m","customerId":"c"}`:                                       "content",
		`{"msgId":"m","customerId":"c","content":"x","msgType":"video"}`:       "msgType",
		`{"msgId":"m","customerId":"c","content":"x","createdAt":"yesterday"}`: "createdAt",
	} {
		_, err := channelcallback.Normalize("douyin", []byte(body))
		require.Error(t, err, body)
		require.Contains(t, err.Error(), field, body)
	}
	_, err = channelcallback.Normalize("douyin", []byte(`not json`))
	providertexttest.RequireCodedError(t, err, domain.ErrInvalidPayload, "")
}

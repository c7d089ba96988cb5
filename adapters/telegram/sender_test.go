package telegram_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/telegram"
	"github.com/socialops/socialops/domain"
)

const senderToken = "123456:AAE-secretTokenThatMustNotLeak_abcdefghij"

// The sender's classification decides whether a reply may be sent again:
// only a request that provably never left is retryable; after that, a lost
// or unreadable answer is an unknown outcome.
func TestSendErrorsAreClassifiedByWhatIsKnown(t *testing.T) {
	type want struct {
		retryable, unknown bool
		retryAfter         time.Duration
	}
	cases := []struct {
		name    string
		handler http.HandlerFunc
		want    want
	}{
		{"200 body cut mid-read", func(w http.ResponseWriter, _ *http.Request) {
			conn, buf, err := w.(http.Hijacker).Hijack()
			if err != nil {
				return
			}
			_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n{\"ok\":true,\"res")
			_ = buf.Flush()
			_ = conn.Close()
		}, want{unknown: true}},
		{"200 not JSON", answer(200, "<html>OK</html>"), want{unknown: true}},
		{"200 JSON that is not the Bot API's", answer(200, `{"status":"fine"}`), want{unknown: true}},
		{"502 from a proxy, not JSON", answer(502, "<html>Bad Gateway</html>"), want{unknown: true}},
		{"404 from a proxy, not JSON", answer(404, "Not Found"), want{}},
		{"Bot API 500", answer(500, `{"ok":false,"error_code":500,"description":"Internal Server Error"}`), want{retryable: true}},
		{"Bot API 429", answer(429, `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}`),
			want{retryable: true, retryAfter: 7 * time.Second}},
		{"Bot API 403", answer(403, `{"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}`), want{}},
		{"answer after the timeout", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(2 * time.Second):
			case <-r.Context().Done():
			}
		}, want{unknown: true}},
		{"connection closed before any answer", func(w http.ResponseWriter, _ *http.Request) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
		}, want{unknown: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			_, err := telegram.NewSender(srv.URL, 300*time.Millisecond).SendMessage(context.Background(), senderToken, "42", "hello", "")
			var se *domain.SendError
			require.True(t, errors.As(err, &se), "a SendError: %v", err)
			assert.Equal(t, tc.want.retryable, se.Retryable, "retryable: %s", se)
			assert.Equal(t, tc.want.unknown, se.Unknown, "unknown: %s", se)
			assert.Equal(t, tc.want.retryAfter, se.RetryAfter)
			assert.NotContains(t, err.Error(), senderToken)
		})
	}
}

func TestRequestThatNeverLeftIsRetryable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	url := "http://" + l.Addr().String()
	require.NoError(t, l.Close()) // nothing listens there now: the dial is refused

	_, err = telegram.NewSender(url, time.Second).SendMessage(context.Background(), senderToken, "42", "hello", "")
	var se *domain.SendError
	require.True(t, errors.As(err, &se), "a SendError: %v", err)
	assert.True(t, se.Retryable)
	assert.False(t, se.Unknown)
	assert.NotContains(t, err.Error(), senderToken)

	// An unknown host: the request never left either.
	_, err = telegram.NewSender("http://socialops-no-such-host.invalid", time.Second).SendMessage(context.Background(), senderToken, "42", "hello", "")
	require.True(t, errors.As(err, &se), "a SendError: %v", err)
	assert.True(t, se.Retryable)
	assert.False(t, se.Unknown)
}

func TestSentMessageReturnsItsID(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, "/bot"+senderToken+"/sendMessage", r.URL.Path)
		body, _ := io.ReadAll(r.Body)
		assert.JSONEq(t, `{"chat_id":"42","text":"hello","parse_mode":"HTML"}`, string(body))
		_, _ = io.WriteString(w, `{"ok":true,"result":{"message_id":77,"date":1763726400,"chat":{"id":42,"type":"private"},"text":"hello"}}`)
	}))
	defer srv.Close()
	id, err := telegram.NewSender(srv.URL, time.Second).SendMessage(context.Background(), senderToken, "42", "hello", "HTML")
	require.NoError(t, err)
	assert.Equal(t, "77", id)
}

func answer(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

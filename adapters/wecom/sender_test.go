package wecom_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/wecom"
	"github.com/socialops/socialops/domain"
)

func fixedCredentials(context.Context, string) (wecom.Credentials, bool, error) {
	return wecom.Credentials{CorpID: "ww_corp", AgentID: 1, Secret: "s"}, true, nil
}

// The answer to message/send is lost after WeCom may have taken the message:
// the outcome is unknown, never retried (message/send has no idempotency key).
func TestSendLostAnswerIsUnknown(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/cgi-bin/gettoken" {
			_, _ = io.WriteString(w, `{"errcode":0,"access_token":"t","expires_in":7200}`)
			return
		}
		conn, _, _ := w.(http.Hijacker).Hijack()
		_ = conn.Close()
	}))
	defer srv.Close()
	_, err := wecom.NewSender(srv.URL, time.Second, fixedCredentials).Send(context.Background(), "i", "u", "hi")
	var se *domain.SendError
	require.True(t, errors.As(err, &se), "%v", err)
	assert.True(t, se.Unknown)
	assert.False(t, se.Retryable)
}

// A gettoken failure sent nothing: retryable; a refused secret is permanent.
func TestGetTokenFailures(t *testing.T) {
	answer := `{"errcode":-1,"errmsg":"system busy"}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, answer)
	}))
	defer srv.Close()
	s := wecom.NewSender(srv.URL, time.Second, fixedCredentials)
	_, err := s.Send(context.Background(), "i", "u", "hi")
	var se *domain.SendError
	require.True(t, errors.As(err, &se))
	assert.True(t, se.Retryable)

	answer = `{"errcode":40001,"errmsg":"invalid credential"}`
	_, err = s.Send(context.Background(), "i", "u", "hi")
	require.True(t, errors.As(err, &se))
	assert.False(t, se.Retryable)
	assert.False(t, se.Unknown)
	assert.Equal(t, "wecom_40001", se.Code)
}

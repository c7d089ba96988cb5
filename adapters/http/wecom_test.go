package httpapi_test

import (
	"bytes"
	"context"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	httpapi "github.com/socialops/socialops/adapters/http"
	"github.com/socialops/socialops/adapters/postgres"
	"github.com/socialops/socialops/adapters/postgres/pgtest"
	"github.com/socialops/socialops/adapters/wecom"
	"github.com/socialops/socialops/domain"
)

func init() {
	// The callback body is XML, documented as a string; the validator has no XML decoder.
	openapi3filter.RegisterBodyDecoder("application/xml", openapi3filter.PlainBodyDecoder)
}

// Tencent's published WXBizMsgCrypt sample values.
const (
	wecomToken  = "QDG6eK"
	wecomAESKey = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
	wecomCorpID = "wx5823bf96d3bd56c7"

	wecomGETQuery = "msg_signature=5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3&timestamp=1409659589&nonce=263014780&echostr=" +
		"P9nAzCzyDtyTWESHep1vC5X9xho%2FqYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp%2B4RPcs8TgAE7OaBO%2BFZXvnaqQ%3D%3D"
	wecomPOSTQuery = "msg_signature=477715d11cdb4164915debcba66cb864d751f3e6&timestamp=1409659813&nonce=1372623149"
	wecomPOSTBody  = `<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><Encrypt><![CDATA[RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==]]></Encrypt>
<AgentID><![CDATA[218]]></AgentID>
</xml>`
)

var xmlHeaders = map[string]string{"Content-Type": "application/xml"}

// newWeComHarness configures instance "wc" with the published sample settings.
// maxAge < 0 turns the timestamp check off, as replaying the vectors needs.
func newWeComHarness(t *testing.T, maxAge time.Duration) *harness {
	h := newHarnessWith(t, pgtest.NewPool(t), func(d *httpapi.Deps) { d.WeComMaxAge = maxAge })
	h.instance("u_wc", "wc")
	require.NoError(t, h.tenancy.SetWeComSettings(context.Background(), "wc", postgres.WeComSettings{
		CorpID: wecomCorpID, AgentID: 218, Token: wecomToken, AESKey: wecomAESKey}))
	return h
}

func TestWeComURLVerification(t *testing.T) {
	h := newWeComHarness(t, -1)
	r := h.do("GET", "/v1/apps/socialops/wc/wecom/callback?"+wecomGETQuery, nil, nil)
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, "1616140317555161061", string(r.body))
	assert.Contains(t, r.header.Get("Content-Type"), "text/plain")

	r = h.do("GET", "/v1/apps/socialops/wc/wecom/callback?msg_signature=abc&timestamp=1", nil, nil)
	assert.Equal(t, 400, r.status)
	assert.Equal(t, "error", string(r.body))
	bad := "msg_signature=0c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3" + wecomGETQuery[len("msg_signature=5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3"):]
	for _, path := range []string{"/v1/apps/socialops/wc/wecom/callback?" + bad, "/v1/apps/socialops/nobody/wecom/callback?" + wecomGETQuery} {
		r = h.do("GET", path, nil, nil)
		assert.Equal(t, 401, r.status, path)
		assert.Equal(t, "error", string(r.body))
	}
}

func TestWeComCallbackStoresOnceAndDeduplicates(t *testing.T) {
	h := newWeComHarness(t, -1)
	r := h.do("POST", "/v1/apps/socialops/wc/wecom/callback?"+wecomPOSTQuery, []byte(wecomPOSTBody), xmlHeaders)
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, "success", string(r.body))
	head := h.head()
	var got *domain.InboundMessageReceived
	for _, e := range h.events() {
		if m, ok := e.Payload.(domain.InboundMessageReceived); ok {
			got = &m
		}
	}
	require.NotNil(t, got)
	assert.Equal(t, "wecom", got.Provider)
	assert.Equal(t, "4561255354251345929", got.ProviderEventID)
	assert.Equal(t, "hello", got.Text)
	assert.Equal(t, "mycreate", got.Sender.ExternalID)

	r = h.do("POST", "/v1/apps/socialops/wc/wecom/callback?"+wecomPOSTQuery, []byte(wecomPOSTBody), xmlHeaders)
	require.Equal(t, 200, r.status, "a redelivered MsgId is acknowledged")
	assert.Equal(t, head, h.head(), "and stores nothing")

	// The thread is listed like any other, and can be filtered by provider.
	key := h.key("u_wc", "socialops:read")
	r = h.get("/v1/apps/socialops/wc/threads?provider=wecom", key, "X-SocialOps-Position", strconv.FormatUint(head, 10))
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, []string{got.ThreadID}, threadIDs(r))
}

// signedPost builds a callback for the sample settings with a chosen plaintext and receive id.
func signedPost(t *testing.T, plain, receiveID string, ts time.Time, mangle func(string) string) (string, []byte) {
	c, err := wecom.NewCrypt(wecomToken, wecomAESKey, receiveID)
	require.NoError(t, err)
	enc, err := c.Encrypt([]byte(plain), bytes.NewReader(make([]byte, 16)))
	require.NoError(t, err)
	if mangle != nil {
		enc = mangle(enc)
	}
	stamp := strconv.FormatInt(ts.Unix(), 10)
	q := url.Values{"msg_signature": {wecom.Signature(wecomToken, stamp, "n1", enc)}, "timestamp": {stamp}, "nonce": {"n1"}}
	return q.Encode(), []byte("<xml><ToUserName>" + wecomCorpID + "</ToUserName><Encrypt><![CDATA[" + enc + "]]></Encrypt><AgentID>218</AgentID></xml>")
}

func TestWeComCallbackRefusalsStoreNothing(t *testing.T) {
	h := newWeComHarness(t, 5*time.Minute)
	now := h.now
	text := `<xml><ToUserName>` + wecomCorpID + `</ToUserName><FromUserName>u1</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>hi</Content><MsgId>1</MsgId></xml>`
	goodQ, goodBody := signedPost(t, text, wecomCorpID, now, nil)

	cases := map[string]struct {
		query  string
		body   []byte
		status int
	}{
		"missing signature": {"timestamp=1&nonce=1", goodBody, 400},
		"not xml body":      {goodQ, []byte("{}"), 400},
		"wrong signature":   {goodQ[:len("msg_signature=")] + "0000" + goodQ[len("msg_signature=")+4:], goodBody, 401},
		"stale timestamp": func() struct {
			query  string
			body   []byte
			status int
		} {
			q, b := signedPost(t, text, wecomCorpID, now.Add(-6*time.Minute), nil)
			return struct {
				query  string
				body   []byte
				status int
			}{q, b, 401}
		}(),
		"published vector (stale)": {wecomPOSTQuery, []byte(wecomPOSTBody), 401},
	}
	wrongCorpQ, wrongCorpBody := signedPost(t, text, "ww_other_corp", now, nil)
	cases["wrong corp id"] = struct {
		query  string
		body   []byte
		status int
	}{wrongCorpQ, wrongCorpBody, 401}
	truncQ, truncBody := signedPost(t, text, wecomCorpID, now, func(s string) string { return s[:len(s)-8] })
	cases["truncated ciphertext"] = struct {
		query  string
		body   []byte
		status int
	}{truncQ, truncBody, 400}
	notXMLQ, notXMLBody := signedPost(t, "hello, not xml", wecomCorpID, now, nil)
	cases["non-XML plaintext"] = struct {
		query  string
		body   []byte
		status int
	}{notXMLQ, notXMLBody, 400}

	for name, tc := range cases {
		r := h.do("POST", "/v1/apps/socialops/wc/wecom/callback?"+tc.query, tc.body, xmlHeaders)
		assert.Equal(t, tc.status, r.status, name)
		assert.Equal(t, uint64(0), h.head(), "%s stored nothing", name)
	}
	r := h.do("POST", "/v1/apps/socialops/wc/wecom/callback?"+goodQ, goodBody, xmlHeaders)
	require.Equal(t, 200, r.status, "the same message, correctly signed and fresh, is stored")
	assert.NotZero(t, h.head())
}

package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/channelcallback"
	httpapi "github.com/socialops/socialops/adapters/http"
	"github.com/socialops/socialops/adapters/postgres/pgtest"
	"github.com/socialops/socialops/domain"
)

const channelSecret = "channel-secret-0123"

func signedChannelHeaders(ts time.Time, nonce string, body []byte, secret string) map[string]string {
	stamp := strconv.FormatInt(ts.Unix(), 10)
	return map[string]string{"Content-Type": "application/json", "X-Timestamp": stamp, "X-Nonce": nonce,
		"X-Signature": channelcallback.Sign(secret, stamp, nonce, body)}
}

func TestChannelCallbackStoresAndDeduplicates(t *testing.T) {
	h := newHarness(t)
	h.instance("u_ch", "ch")
	require.NoError(t, h.tenancy.SetWebhookSecret(context.Background(), "ch", "wechat", channelSecret))
	body := []byte(`{"msgId":"wx_1","customerId":"cust_1","customerName":"张三","content":"你好"}`)

	r := h.do("POST", "/v1/apps/socialops/ch/channel/wechat/callback", body, signedChannelHeaders(h.now, "n-1", body, channelSecret))
	require.Equal(t, 200, r.status, string(r.body))
	assert.EqualValues(t, 0, r.json["code"])
	head := h.head()
	var got domain.InboundMessageReceived
	for _, e := range h.events() {
		if m, ok := e.Payload.(domain.InboundMessageReceived); ok {
			got = m
		}
	}
	assert.Equal(t, "wechat", got.Provider)
	assert.Equal(t, "wx_1", got.ProviderEventID)
	assert.Equal(t, "你好", got.Text)

	r = h.do("POST", "/v1/apps/socialops/ch/channel/wechat/callback", body, signedChannelHeaders(h.now, "n-2", body, channelSecret))
	require.Equal(t, 200, r.status, "a redelivered msgId with a new nonce is acknowledged")
	assert.Equal(t, true, r.json["data"].(map[string]any)["duplicate"])
	assert.Equal(t, head, h.head(), "and stores nothing")
}

func TestChannelCallbackRefusalsStoreNothing(t *testing.T) {
	h := newHarness(t)
	h.instance("u_ch", "ch")
	require.NoError(t, h.tenancy.SetWebhookSecret(context.Background(), "ch", "douyin", channelSecret))
	body := []byte(`{"msgId":"dy_1","customerId":"cust_1","content":"hi"}`)
	path := "/v1/apps/socialops/ch/channel/douyin/callback"
	good := signedChannelHeaders(h.now, "n-1", body, channelSecret)
	noSig := signedChannelHeaders(h.now, "n-1", body, channelSecret)
	delete(noSig, "X-Signature")
	cases := []struct {
		name   string
		path   string
		body   []byte
		header map[string]string
		status int
	}{
		{"unknown type", "/v1/apps/socialops/ch/channel/whatsapp/callback", body, good, 404},
		{"no signature", path, body, noSig, 401},
		{"wrong secret", path, body, signedChannelHeaders(h.now, "n-1", body, "another-secret"), 401},
		{"body changed", path, []byte(`{"msgId":"dy_1","customerId":"cust_1","content":"HI"}`), good, 401},
		{"stale timestamp", path, body, signedChannelHeaders(h.now.Add(-6*time.Minute), "n-1", body, channelSecret), 401},
		{"no secret for the type", "/v1/apps/socialops/ch/channel/jd/callback", body, good, 401},
		{"unknown alias", "/v1/apps/socialops/nobody/channel/douyin/callback", body, good, 401},
		{"missing content", path, []byte(`{"msgId":"dy_1","customerId":"c"}`), signedChannelHeaders(h.now, "n-x", []byte(`{"msgId":"dy_1","customerId":"c"}`), channelSecret), 400},
		{"not json", path, []byte(`nope`), signedChannelHeaders(h.now, "n-y", []byte(`nope`), channelSecret), 400},
	}
	for _, tc := range cases {
		r := h.do("POST", tc.path, tc.body, tc.header)
		assert.Equal(t, tc.status, r.status, tc.name)
		var env map[string]any
		require.NoError(t, json.Unmarshal(r.body, &env), tc.name)
		assert.EqualValues(t, tc.status, env["code"], tc.name)
		assert.Equal(t, uint64(0), h.head(), "%s stored nothing", tc.name)
	}
}

// A nonce is accepted once, also when the replay reaches another server
// process: the nonces live in Postgres, not in a process.
func TestChannelCallbackReplayedNonce(t *testing.T) {
	var deps httpapi.Deps
	h := newHarnessWith(t, pgtest.NewPool(t), func(d *httpapi.Deps) { deps = *d })
	second := httptest.NewServer(httpapi.NewRouter(deps))
	t.Cleanup(second.Close)
	h.instance("u_ch", "ch")
	require.NoError(t, h.tenancy.SetWebhookSecret(context.Background(), "ch", "jd", channelSecret))
	path := "/v1/apps/socialops/ch/channel/jd/callback"

	body := []byte(`{"msgId":"jd_1","customerId":"buyer","content":"hi"}`)
	hdr := signedChannelHeaders(h.now, "once", body, channelSecret)
	require.Equal(t, 200, h.do("POST", path, body, hdr).status)
	head := h.head()
	assert.Equal(t, 401, h.do("POST", path, body, hdr).status, "replayed to the same process")

	first := h.srv
	h.srv = second
	r := h.do("POST", path, body, hdr)
	h.srv = first
	assert.Equal(t, 401, r.status, "replayed to another process")

	// Even a new message under a used nonce is refused.
	other := []byte(`{"msgId":"jd_2","customerId":"buyer","content":"again"}`)
	assert.Equal(t, 401, h.do("POST", path, other, signedChannelHeaders(h.now, "once", other, channelSecret)).status)
	assert.Equal(t, head, h.head())
}

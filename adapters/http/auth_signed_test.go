package httpapi_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	httpapi "github.com/socialops/socialops/adapters/http"
	"github.com/socialops/socialops/adapters/postgres"
)

// The README's worked example: these inputs give this signature (also
// reproduced there with openssl).
func TestSignatureWorkedExample(t *testing.T) {
	canonical, err := httpapi.CanonicalRequest("GET", "/v1/apps/socialops/acme/inbox", "status=open&q=hello+world&limit=20",
		"1767225600", "3f9a1c2e-nonce", nil)
	require.NoError(t, err)
	assert.Equal(t, "GET\n/v1/apps/socialops/acme/inbox\nlimit=20&q=hello%20world&status=open\n1767225600\n3f9a1c2e-nonce\n"+
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", canonical)
	assert.Equal(t, "70f854f2f1cafb301a732c2b1f9df2425f3c355e76be819bfa41417cc28c479b",
		httpapi.SignRequest([]byte("sss_worked_example_secret"), canonical))
}

func TestCanonicalQuery(t *testing.T) {
	for raw, want := range map[string]string{
		"":                     "",
		"b=2&a=1":              "a=1&b=2",
		"a=2&a=1&a=10":         "a=1&a=10&a=2",
		"q=%E4%BA%BA%E5%B7%A5": "q=%E4%BA%BA%E5%B7%A5",
		"k=a+b&k2=a%20b":       "k=a%20b&k2=a%20b",
		"x=~-._*":              "x=~-._%2A",
		"flag":                 "flag=",
		"sp%20ace=1":           "sp%20ace=1",
	} {
		got, err := httpapi.CanonicalQuery(raw)
		require.NoError(t, err, raw)
		assert.Equal(t, want, got, raw)
	}
	_, err := httpapi.CanonicalQuery("a=%zz")
	assert.Error(t, err)
}

// The canonical query never fails on a query url.ParseQuery accepts, and is
// stable: canonicalising it twice changes nothing.
func FuzzCanonicalQuery(f *testing.F) {
	for _, s := range []string{"", "a=1&b=2", "q=%E4%BA%BA", "a=%zz", "x=1;y=2", "&&=&", "k=a+b", "a=1&a=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := httpapi.CanonicalQuery(raw)
		if err != nil {
			return
		}
		again, err := httpapi.CanonicalQuery(q)
		require.NoError(t, err)
		assert.Equal(t, q, again)
		for _, part := range strings.Split(q, "&") {
			if part == "" {
				continue
			}
			assert.True(t, strings.Contains(part, "="), part)
			_, err := url.QueryUnescape(part)
			assert.NoError(t, err)
		}
	})
}

type signer struct {
	accessKey, secret string
	now               time.Time
}

func (s signer) headers(method, path, rawQuery, nonce string, body []byte) map[string]string {
	ts := strconv.FormatInt(s.now.Unix(), 10)
	canonical, err := httpapi.CanonicalRequest(method, path, rawQuery, ts, nonce, body)
	if err != nil {
		panic(err)
	}
	return map[string]string{"X-Access-Key": s.accessKey, "X-Timestamp": ts, "X-Nonce": nonce,
		"X-Signature": httpapi.SignRequest([]byte(s.secret), canonical), "Content-Type": "application/json"}
}

// Signed requests: accepted when right; every kind of wrong is refused.
func TestSignedRequests(t *testing.T) {
	h := newHarness(t)
	other := newHarnessWith(t, h.pool, nil)
	inst := h.instance("owner-s", "signed")
	ak, secret, k, err := h.tenancy.CreateSigningKey(context.Background(), postgres.CredentialSpec{
		InstanceAlias: "signed", Scopes: []string{postgres.ScopeRead, postgres.ScopeWrite}})
	require.NoError(t, err)
	assert.Equal(t, inst.OwnerID, k.OwnerID)
	s := signer{accessKey: ak, secret: secret, now: time.Now()}
	path := "/v1/apps/socialops/signed/inbox"

	hd := s.headers("GET", path, "status=open&limit=5", "nonce-1", nil)
	r := h.do("GET", path+"?status=open&limit=5", nil, hd)
	require.Equal(t, 200, r.status, string(r.body))

	// The same nonce again, on this process or another: a replay.
	r = h.do("GET", path+"?status=open&limit=5", nil, hd)
	assert.Equal(t, "replayed_nonce", r.errorCode())
	r = other.do("GET", path+"?status=open&limit=5", nil, hd)
	assert.Equal(t, 401, r.status)
	assert.Equal(t, "replayed_nonce", r.errorCode())

	// The query in another order is the same canonical request.
	hd = s.headers("GET", path, "limit=5&status=open", "nonce-2", nil)
	assert.Equal(t, 200, h.do("GET", path+"?status=open&limit=5", nil, hd).status)

	// Wrong secret, tampered query, stale and future timestamps, unknown key.
	wrong := signer{accessKey: ak, secret: "sss_wrong", now: time.Now()}
	assert.Equal(t, "request_signature_invalid", h.do("GET", path, nil, wrong.headers("GET", path, "", "nonce-3", nil)).errorCode())
	hd = s.headers("GET", path, "limit=5", "nonce-4", nil)
	assert.Equal(t, "request_signature_invalid", h.do("GET", path+"?limit=50", nil, hd).errorCode())
	stale := signer{accessKey: ak, secret: secret, now: time.Now().Add(-6 * time.Minute)}
	assert.Equal(t, "stale_timestamp", h.do("GET", path, nil, stale.headers("GET", path, "", "nonce-5", nil)).errorCode())
	future := signer{accessKey: ak, secret: secret, now: time.Now().Add(6 * time.Minute)}
	assert.Equal(t, "stale_timestamp", h.do("GET", path, nil, future.headers("GET", path, "", "nonce-6", nil)).errorCode())
	unknown := signer{accessKey: "AKNOPE", secret: secret, now: time.Now()}
	assert.Equal(t, "invalid_api_key", h.do("GET", path, nil, unknown.headers("GET", path, "", "nonce-7", nil)).errorCode())
	hd = s.headers("GET", path, "", "nonce-8", nil)
	delete(hd, "X-Nonce")
	assert.Equal(t, "unauthenticated", h.do("GET", path, nil, hd).errorCode())
	// A refused signature did not use up its nonce.
	assert.Equal(t, 200, h.do("GET", path, nil, s.headers("GET", path, "", "nonce-3", nil)).status)

	// A signed body: tampering with it is refused and stores nothing.
	threadID, _ := h.openThread("signed", h.key("owner-s", postgres.ScopeWrite), "signed-thread")
	replyPath := "/v1/apps/socialops/signed/threads/" + threadID + "/replies"
	body := []byte(`{"text":"signed reply"}`)
	head := h.head()
	hd = s.headers("POST", replyPath, "", "nonce-9", body)
	r = h.do("POST", replyPath, []byte(`{"text":"tampered reply"}`), hd)
	assert.Equal(t, 401, r.status)
	assert.Equal(t, "request_signature_invalid", r.errorCode())
	assert.Equal(t, head, h.head(), "nothing stored")
	r = h.do("POST", replyPath, body, hd)
	assert.Equal(t, 201, r.status, string(r.body))
	sum := sha256.Sum256(body)
	t.Logf("signed body sha256 %s", hex.EncodeToString(sum[:]))
}

// A signing key needs the instance's scope like any credential, and the
// server's log never holds a signing secret.
func TestSignedRequestScope(t *testing.T) {
	h := newHarness(t)
	h.instance("owner-s2", "signed-ro")
	ak, secret, _, err := h.tenancy.CreateSigningKey(context.Background(), postgres.CredentialSpec{
		InstanceAlias: "signed-ro", Scopes: []string{postgres.ScopeRead}})
	require.NoError(t, err)
	s := signer{accessKey: ak, secret: secret, now: time.Now()}
	path := "/v1/apps/socialops/signed-ro/threads/th_x/events"
	r := h.do("GET", path, nil, s.headers("GET", path, "", fmt.Sprintf("n-%d", time.Now().UnixNano()), nil))
	assert.Equal(t, 403, r.status)
	assert.Equal(t, "missing_scope", r.errorCode())
}

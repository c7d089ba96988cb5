package httpapi_test

import (
	"context"
	"encoding/base64"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/postgres"
)

func form(v url.Values) ([]byte, map[string]string) {
	return []byte(v.Encode()), map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
}

func basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// The client credentials grant, by HTTP Basic and by body credentials; the
// token works wherever an API key does, with the granted scopes only.
func TestOAuthClientCredentials(t *testing.T) {
	h := newHarness(t)
	h.instance("owner-o", "oauth")
	h.instance("owner-o", "oauth-other")
	id, secret, _, err := h.tenancy.CreateOAuthClient(context.Background(), postgres.CredentialSpec{
		InstanceAlias: "oauth", Scopes: []string{postgres.ScopeRead, postgres.ScopeAudit}})
	require.NoError(t, err)

	body, hd := form(url.Values{"grant_type": {"client_credentials"}})
	hd["Authorization"] = basic(id, secret)
	r := h.do("POST", "/oauth/token", body, hd)
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, "no-store", r.header.Get("Cache-Control"))
	assert.Equal(t, "Bearer", r.json["token_type"])
	assert.InDelta(t, 3600, r.json["expires_in"], 2)
	assert.Equal(t, "socialops:read socialops:audit", r.json["scope"])
	token := r.json["access_token"].(string)
	assert.Equal(t, 200, h.do("GET", "/v1/apps/socialops/oauth/inbox", nil, bearer(token)).status)
	assert.Equal(t, 404, h.do("GET", "/v1/apps/socialops/oauth-other/inbox", nil, bearer(token)).status, "the client's instance only")

	// Body credentials, narrowed scope: the token has only what was granted.
	body, hd = form(url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}, "scope": {"socialops:audit"}})
	r = h.do("POST", "/oauth/token", body, hd)
	require.Equal(t, 200, r.status, string(r.body))
	narrow := r.json["access_token"].(string)
	r = h.do("GET", "/v1/apps/socialops/oauth/inbox", nil, bearer(narrow))
	assert.Equal(t, 403, r.status)
	assert.Equal(t, "missing_scope", r.errorCode())

	// An expired token is refused with its own code.
	_, err = h.pool.Exec(context.Background(), `UPDATE oauth_tokens SET expires_at = now() - interval '1 second'`)
	require.NoError(t, err)
	r = h.do("GET", "/v1/apps/socialops/oauth/inbox", nil, bearer(token))
	assert.Equal(t, 401, r.status)
	assert.Equal(t, "credential_expired", r.errorCode())
}

// Every failure answers exactly as RFC 6749 §5.2 says, and issues nothing.
func TestOAuthErrors(t *testing.T) {
	h := newHarness(t)
	h.instance("owner-oe", "oauth-errors")
	id, secret, k, err := h.tenancy.CreateOAuthClient(context.Background(), postgres.CredentialSpec{
		InstanceAlias: "oauth-errors", Scopes: []string{postgres.ScopeRead}})
	require.NoError(t, err)
	cc := url.Values{"grant_type": {"client_credentials"}}
	for _, c := range []struct {
		name        string
		body        string
		contentType string
		auth        string
		status      int
		code        string
	}{
		{"wrong secret", cc.Encode(), "application/x-www-form-urlencoded", basic(id, "socs_wrong"), 401, "invalid_client"},
		{"unknown client", cc.Encode(), "application/x-www-form-urlencoded", basic("soc_nope", secret), 401, "invalid_client"},
		{"no credentials", cc.Encode(), "application/x-www-form-urlencoded", "", 401, "invalid_client"},
		{"other grant", "grant_type=password&username=a&password=b", "application/x-www-form-urlencoded", basic(id, secret), 400, "unsupported_grant_type"},
		{"no grant", "", "application/x-www-form-urlencoded", basic(id, secret), 400, "invalid_request"},
		{"json body", `{"grant_type":"client_credentials"}`, "application/json", basic(id, secret), 400, "invalid_request"},
		{"repeated parameter", "grant_type=client_credentials&grant_type=client_credentials", "application/x-www-form-urlencoded", basic(id, secret), 400, "invalid_request"},
		{"two methods", cc.Encode() + "&client_secret=" + url.QueryEscape(secret), "application/x-www-form-urlencoded", basic(id, secret), 400, "invalid_request"},
		{"scope beyond the client", cc.Encode() + "&scope=socialops%3Awrite", "application/x-www-form-urlencoded", basic(id, secret), 400, "invalid_scope"},
		{"unknown scope", cc.Encode() + "&scope=admin", "application/x-www-form-urlencoded", basic(id, secret), 400, "invalid_scope"},
	} {
		hd := map[string]string{"Content-Type": c.contentType}
		if c.auth != "" {
			hd["Authorization"] = c.auth
		}
		r := h.do("POST", "/oauth/token", []byte(c.body), hd)
		assert.Equal(t, c.status, r.status, c.name)
		assert.Equal(t, c.code, r.json["error"], c.name)
		assert.NotEmpty(t, r.json["error_description"], c.name)
		assert.Nil(t, r.json["success"], "%s: the RFC body, not the envelope", c.name)
		if c.status == 401 {
			assert.Contains(t, r.header.Get("WWW-Authenticate"), "Basic", c.name)
		}
	}
	var tokens int
	require.NoError(t, h.pool.QueryRow(context.Background(), `SELECT count(*) FROM oauth_tokens`).Scan(&tokens))
	assert.Zero(t, tokens, "no failure issued a token")

	// A revoked client gets invalid_client, and its tokens die with it.
	body, hd := form(cc)
	hd["Authorization"] = basic(id, secret)
	r := h.do("POST", "/oauth/token", body, hd)
	require.Equal(t, 200, r.status)
	token := r.json["access_token"].(string)
	_, err = h.tenancy.RevokeCredential(context.Background(), k.ID)
	require.NoError(t, err)
	r = h.do("POST", "/oauth/token", body, hd)
	assert.Equal(t, 401, r.status)
	assert.Equal(t, "invalid_client", r.json["error"])
	assert.Eventually(t, func() bool {
		return h.do("GET", "/v1/apps/socialops/oauth-errors/inbox", nil, bearer(token)).status == 401
	}, time.Second, 20*time.Millisecond)
}

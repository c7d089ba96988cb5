package httpapi_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	httpapi "github.com/socialops/socialops/adapters/http"
	"github.com/socialops/socialops/adapters/postgres"
	"github.com/socialops/socialops/adapters/postgres/pgtest"
)

func (h *harness) credential(spec postgres.CredentialSpec) (string, postgres.APIKey) {
	h.t.Helper()
	secret, k, err := h.tenancy.CreateCredentialAPIKey(context.Background(), spec)
	require.NoError(h.t, err)
	return secret, k
}

func (h *harness) countKeys() int {
	h.t.Helper()
	var n int
	require.NoError(h.t, h.pool.QueryRow(context.Background(), `SELECT count(*) FROM api_keys`).Scan(&n))
	return n
}

// An instance-limited key reaches its instance only; another instance of the
// same owner answers 404 as if it did not exist.
func TestInstanceScopedKeySeesOnlyItsInstance(t *testing.T) {
	h := newHarness(t)
	h.instance("owner-a", "scoped-one")
	h.instance("owner-a", "scoped-two")
	key, k := h.credential(postgres.CredentialSpec{OwnerID: "owner-a", Scopes: []string{postgres.ScopeRead}, InstanceAlias: "scoped-one"})
	assert.Equal(t, "scoped-one", k.InstanceAlias)

	r := h.do("GET", "/v1/apps/socialops/scoped-one/inbox", nil, bearer(key))
	assert.Equal(t, 200, r.status)
	r = h.do("GET", "/v1/apps/socialops/scoped-two/inbox", nil, bearer(key))
	assert.Equal(t, 404, r.status)
	assert.Equal(t, "instance_not_found", r.errorCode())

	// An owner-wide key reaches both.
	wide := h.key("owner-a", postgres.ScopeRead)
	assert.Equal(t, 200, h.do("GET", "/v1/apps/socialops/scoped-two/inbox", nil, bearer(wide)).status)
}

// An expired key is refused with its own code; one not yet expired works.
func TestExpiredKeyRefused(t *testing.T) {
	h := newHarness(t)
	h.instance("owner-e", "expiring")
	key, k := h.credential(postgres.CredentialSpec{OwnerID: "owner-e", Scopes: []string{postgres.ScopeRead}, ExpiresIn: time.Hour})
	assert.Equal(t, 200, h.do("GET", "/v1/apps/socialops/expiring/inbox", nil, bearer(key)).status)
	_, err := h.pool.Exec(context.Background(), `UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE key_id = $1`, k.ID)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		r := h.do("GET", "/v1/apps/socialops/expiring/inbox", nil, bearer(key))
		return r.status == 401 && r.errorCode() == "credential_expired"
	}, 2*time.Second, 50*time.Millisecond, "an expired key is refused within the credential cache's 500 ms")
}

// A key revoked through one server process is refused by another process
// (its own cache, the same database) within a second.
func TestRevokedKeyRefusedOnASecondProcessWithinOneSecond(t *testing.T) {
	h := newHarness(t)
	other := newHarnessWith(t, h.pool, nil)
	h.instance("owner-r", "revoking")
	admin := h.key("owner-r", postgres.ScopeWrite, postgres.ScopeRead)
	key, k := h.credential(postgres.CredentialSpec{OwnerID: "owner-r", Scopes: []string{postgres.ScopeRead}, Name: "crm"})
	// Both processes have the key in their caches.
	require.Equal(t, 200, h.do("GET", "/v1/apps/socialops/revoking/inbox", nil, bearer(key)).status)
	require.Equal(t, 200, other.do("GET", "/v1/apps/socialops/revoking/inbox", nil, bearer(key)).status)

	r := h.do("POST", "/v1/apps/socialops/revoking/api-keys/"+k.ID+"/revoke", nil, bearer(admin))
	require.Equal(t, 200, r.status, string(r.body))
	revoked := time.Now()
	data := r.json["data"].(map[string]any)
	assert.NotNil(t, data["revoked_at"])
	assert.NotContains(t, string(r.body), key)

	assert.Equal(t, 401, h.do("GET", "/v1/apps/socialops/revoking/inbox", nil, bearer(key)).status, "the revoking process refuses at once")
	var took time.Duration
	for {
		if other.do("GET", "/v1/apps/socialops/revoking/inbox", nil, bearer(key)).status == 401 {
			took = time.Since(revoked)
			break
		}
		require.Less(t, time.Since(revoked), 2*time.Second, "still accepted by the second process")
		time.Sleep(20 * time.Millisecond)
	}
	assert.Less(t, took, time.Second)
	t.Logf("revoked key refused by the second process after %s", took.Round(time.Millisecond))

	// Revoking again answers the same; an unknown id is 404.
	assert.Equal(t, 200, h.do("POST", "/v1/apps/socialops/revoking/api-keys/"+k.ID+"/revoke", nil, bearer(admin)).status)
	r = h.do("POST", "/v1/apps/socialops/revoking/api-keys/sokey_nope/revoke", nil, bearer(admin))
	assert.Equal(t, 404, r.status)
	assert.Equal(t, "credential_not_found", r.errorCode())
}

// Keys are created, listed (never with their secret), rotated and revoked
// through the API; bad input is refused and stores nothing.
func TestAPIKeyLifecycleThroughTheAPI(t *testing.T) {
	h := newHarness(t)
	h.instance("owner-l", "lifecycle")
	admin := h.key("owner-l", postgres.ScopeWrite, postgres.ScopeRead)
	before := h.countKeys()
	for _, bad := range []struct{ body, code string }{
		{`{"scopes":["socialops:nope"]}`, "unknown_scope"},
		{`{"scopes":[]}`, "missing_field"},
		{`{"scopes":["socialops:read"],"allowed_ips":["10.0.0.0/33"]}`, "invalid_cidr"},
		{`{"scopes":["socialops:read"],"expires_in":0}`, "invalid_field"},
		{`{"scopes":["socialops:read"],"rate_per_second":-1}`, "invalid_field"},
		{`{"scopes":["socialops:read"],"operator_id":99}`, "operator_not_found"},
		{`{"scopes":["socialops:read"],"name":"a\u0001b"}`, "invalid_field"},
		{`{"scopes":["socialops:read"],"surprise":1}`, "invalid_field"},
		{`{"scopes":["socialops:audit"]}`, "missing_scope"},
	} {
		r := h.do("POST", "/v1/apps/socialops/lifecycle/api-keys", []byte(bad.body), map[string]string{
			"Authorization": "Bearer " + admin, "Content-Type": "application/json"})
		assert.Equal(t, bad.code, r.errorCode(), bad.body)
		assert.GreaterOrEqual(t, r.status, 400, bad.body)
	}
	assert.Equal(t, before, h.countKeys(), "refused requests store nothing")

	r := h.do("POST", "/v1/apps/socialops/lifecycle/api-keys", []byte(`{"name":"order system","scopes":["socialops:read"],
		"expires_in":3600,"allowed_ips":["127.0.0.1","::1"],"rate_per_second":5}`),
		map[string]string{"Authorization": "Bearer " + admin, "Content-Type": "application/json"})
	require.Equal(t, 201, r.status, string(r.body))
	created := r.json["data"].(map[string]any)
	secret := created["key"].(string)
	id := created["id"].(string)
	assert.Equal(t, "lifecycle", created["instance"])
	assert.Equal(t, []any{"127.0.0.1/32", "::1/128"}, created["allowed_ips"])
	assert.Equal(t, 200, h.do("GET", "/v1/apps/socialops/lifecycle/inbox", nil, bearer(secret)).status)

	r = h.do("GET", "/v1/apps/socialops/lifecycle/api-keys", nil, bearer(admin))
	require.Equal(t, 200, r.status)
	assert.NotContains(t, string(r.body), secret, "a list never shows keys")
	var listed struct {
		Data struct {
			Keys []map[string]any `json:"api_keys"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(r.body, &listed))
	require.Len(t, listed.Data.Keys, 2)
	assert.Equal(t, id, listed.Data.Keys[0]["id"], "newest first")
	assert.Equal(t, "order system", listed.Data.Keys[0]["name"])
	assert.NotNil(t, listed.Data.Keys[0]["last_used_at"], "the use above is recorded")

	r = h.do("POST", "/v1/apps/socialops/lifecycle/api-keys/"+id+"/rotate", nil, bearer(admin))
	require.Equal(t, 201, r.status, string(r.body))
	rotated := r.json["data"].(map[string]any)
	assert.NotEqual(t, secret, rotated["key"])
	assert.Equal(t, "order system", rotated["name"], "the same settings")
	assert.Equal(t, 401, h.do("GET", "/v1/apps/socialops/lifecycle/inbox", nil, bearer(secret)).status, "the old key is revoked")
	assert.Equal(t, 200, h.do("GET", "/v1/apps/socialops/lifecycle/inbox", nil, bearer(rotated["key"].(string))).status)
}

// The console manages the same keys with service:read / service:manage.
func TestConsoleManagesAPIKeys(t *testing.T) {
	h := newHarness(t)
	h.instance("owner-c", "console-keys")
	manage := bearer(h.token("owner-c", httpapi.PermissionManage))
	r := h.do("POST", "/console/socialops/console-keys/api-keys", []byte(`{"scopes":["socialops:read","socialops:write"]}`),
		map[string]string{"Authorization": manage["Authorization"], "Content-Type": "application/json"})
	require.Equal(t, 201, r.status, string(r.body))
	id := r.json["data"].(map[string]any)["id"].(string)
	read := bearer(h.token("owner-c", httpapi.PermissionRead))
	r = h.do("GET", "/console/socialops/console-keys/api-keys", nil, read)
	require.Equal(t, 200, r.status)
	assert.Contains(t, string(r.body), id)
	r = h.do("POST", "/console/socialops/console-keys/api-keys/"+id+"/revoke", nil, read)
	assert.Equal(t, 403, r.status, "revoking needs service:manage")
	r = h.do("POST", "/console/socialops/console-keys/api-keys/"+id+"/revoke", nil, manage)
	assert.Equal(t, 200, r.status)
	// Another owner's console cannot see or touch it.
	other := bearer(h.token("owner-x", httpapi.PermissionManage))
	assert.Equal(t, 404, h.do("GET", "/console/socialops/console-keys/api-keys", nil, other).status)
}

// The allowlist admits the connection's address, or the one a trusted proxy
// forwarded; X-Forwarded-For from anyone else counts for nothing.
func TestIPAllowlist(t *testing.T) {
	direct := newHarness(t)
	direct.instance("owner-ip", "allowlisted")
	inside, _ := direct.credential(postgres.CredentialSpec{OwnerID: "owner-ip", Scopes: []string{postgres.ScopeRead}, AllowedCIDRs: []string{"127.0.0.0/8"}})
	outside, _ := direct.credential(postgres.CredentialSpec{OwnerID: "owner-ip", Scopes: []string{postgres.ScopeRead}, AllowedCIDRs: []string{"10.0.0.0/8", "2001:db8::/32"}})

	assert.Equal(t, 200, direct.do("GET", "/v1/apps/socialops/allowlisted/inbox", nil, bearer(inside)).status)
	r := direct.do("GET", "/v1/apps/socialops/allowlisted/inbox", nil, bearer(outside))
	assert.Equal(t, 403, r.status)
	assert.Equal(t, "ip_not_allowed", r.errorCode())
	// Not behind a trusted proxy: a forged X-Forwarded-For changes nothing.
	h := bearer(outside)
	h["X-Forwarded-For"] = "10.1.2.3"
	assert.Equal(t, "ip_not_allowed", direct.do("GET", "/v1/apps/socialops/allowlisted/inbox", nil, h).errorCode())

	// Behind a trusted proxy (the loopback here), its X-Forwarded-For is the client.
	proxied := newHarnessWith(t, direct.pool, func(d *httpapi.Deps) { d.TrustedProxies = []string{"127.0.0.1/32", "::1/128"} })
	assert.Equal(t, 200, proxied.do("GET", "/v1/apps/socialops/allowlisted/inbox", nil, h).status)
	h["X-Forwarded-For"] = "2001:db8::7"
	assert.Equal(t, 200, proxied.do("GET", "/v1/apps/socialops/allowlisted/inbox", nil, h).status)
	h["X-Forwarded-For"] = "192.0.2.1"
	assert.Equal(t, "ip_not_allowed", proxied.do("GET", "/v1/apps/socialops/allowlisted/inbox", nil, h).errorCode())
	// The key allowed from the loopback only is refused for a forwarded client elsewhere.
	h2 := bearer(inside)
	h2["X-Forwarded-For"] = "10.1.2.3"
	assert.Equal(t, "ip_not_allowed", proxied.do("GET", "/v1/apps/socialops/allowlisted/inbox", nil, h2).errorCode())
}

// Every answer carries the credential's rate-limit headers; over its own
// rate it gets 429 with Retry-After, while another key keeps its budget.
func TestRateLimitPerCredential(t *testing.T) {
	h := newHarnessWith(t, pgtest.NewPool(t), func(d *httpapi.Deps) { d.RateLimitRPS, d.RateLimitBurst = 1000, 1000 })
	h.instance("owner-rl", "limited")
	slow, _ := h.credential(postgres.CredentialSpec{OwnerID: "owner-rl", Scopes: []string{postgres.ScopeRead}, RatePerSecond: 1})
	fast := h.key("owner-rl", postgres.ScopeRead)

	r := h.do("GET", "/v1/apps/socialops/limited/inbox", nil, bearer(slow))
	require.Equal(t, 200, r.status)
	assert.Equal(t, "2", r.header.Get("X-RateLimit-Limit"), "a rate of 1/s allows bursts of 2")
	assert.Equal(t, "1", r.header.Get("X-RateLimit-Remaining"))
	assert.NotEmpty(t, r.header.Get("X-RateLimit-Reset"))
	assert.Equal(t, 200, h.do("GET", "/v1/apps/socialops/limited/inbox", nil, bearer(slow)).status)
	r = h.do("GET", "/v1/apps/socialops/limited/inbox", nil, bearer(slow))
	assert.Equal(t, 429, r.status)
	assert.Equal(t, "rate_limited", r.errorCode())
	assert.Equal(t, "0", r.header.Get("X-RateLimit-Remaining"))
	wait, err := strconv.Atoi(r.header.Get("Retry-After"))
	require.NoError(t, err)
	assert.GreaterOrEqual(t, wait, 1)

	r = h.do("GET", "/v1/apps/socialops/limited/inbox", nil, bearer(fast))
	assert.Equal(t, 200, r.status)
	assert.Equal(t, "1000", r.header.Get("X-RateLimit-Limit"), "the server's default")
	assert.Equal(t, "999", r.header.Get("X-RateLimit-Remaining"))
}

// A credential bound to an operator sees only that operator's sessions: the
// inbox lists them only, and another operator's thread answers 404.
func TestOperatorBoundCredentialSeesOnlyItsSessions(t *testing.T) {
	h := newHarness(t)
	h.instance("owner-b", "bound")
	key := h.key("owner-b", postgres.ScopeWrite, postgres.ScopeRead)
	for _, name := range []string{"Ann", "Ben"} {
		r := h.do("POST", "/v1/apps/socialops/bound/operators", []byte(`{"name":"`+name+`"}`), jsonHeaders(key))
		require.Equal(t, 201, r.status, string(r.body))
	}
	mine, _ := h.openThread("bound", key, "b1")
	theirs, _ := h.openThread("bound", key, "b2")
	unassigned, _ := h.openThread("bound", key, "b3")
	base := "/v1/apps/socialops/bound/api/sessions/"
	require.Equal(t, 200, h.do("POST", base+mine+"/accept", []byte(`{"csId":"1"}`), bearerKey(key)).status)
	require.Equal(t, 200, h.do("POST", base+theirs+"/accept", []byte(`{"csId":"2"}`), bearerKey(key)).status)
	h.settle()
	ann, _ := h.credential(postgres.CredentialSpec{OwnerID: "owner-b", InstanceAlias: "bound", OperatorID: 1,
		Scopes: []string{postgres.ScopeRead, postgres.ScopeWrite}})

	r := h.do("GET", "/v1/apps/socialops/bound/inbox", nil, bearer(ann))
	require.Equal(t, 200, r.status)
	threads := data(r)["threads"].([]any)
	require.Len(t, threads, 1)
	assert.Equal(t, mine, threads[0].(map[string]any)["thread_id"])
	assert.Equal(t, 200, h.do("GET", "/v1/apps/socialops/bound/threads/"+mine+"/messages", nil, bearer(ann)).status)
	for _, other := range []string{theirs, unassigned} {
		r = h.do("GET", "/v1/apps/socialops/bound/threads/"+other+"/messages", nil, bearer(ann))
		assert.Equal(t, 404, r.status)
		assert.Equal(t, "thread_not_found", r.errorCode())
		r = h.do("GET", base+other, nil, bearer(ann))
		assert.Equal(t, 404, r.status)
	}
	head := h.head()
	r = h.do("POST", "/v1/apps/socialops/bound/threads/"+theirs+"/replies", []byte(`{"text":"not mine"}`), bearer(ann))
	assert.Equal(t, 404, r.status)
	assert.Equal(t, head, h.head(), "nothing stored")
	// The seed 003 list shows only Ann's sessions, whatever csId asks for.
	r = h.do("GET", "/v1/apps/socialops/bound/api/sessions", nil, bearer(ann))
	require.Equal(t, 200, r.status)
	assert.Len(t, r.json["data"].([]any), 1)
	r = h.do("GET", "/v1/apps/socialops/bound/api/sessions?csId=2", nil, bearer(ann))
	require.Equal(t, 200, r.status)
	assert.Empty(t, r.json["data"].([]any))
}

// The webhook applies a key's instance limit and allowlist too.
func TestWebhookKeyPolicy(t *testing.T) {
	h := newHarness(t)
	h.instance("owner-w", "hook-one")
	h.instance("owner-w", "hook-two")
	scoped, _ := h.credential(postgres.CredentialSpec{OwnerID: "owner-w", InstanceAlias: "hook-one", Scopes: []string{postgres.ScopeWrite}})
	far, _ := h.credential(postgres.CredentialSpec{OwnerID: "owner-w", Scopes: []string{postgres.ScopeWrite}, AllowedCIDRs: []string{"192.0.2.0/24"}})
	body := []byte(`{"event_id":"w1","thread_id":"chat-w1","text":"hello"}`)
	head := h.head()
	r := h.do("POST", "/v1/apps/socialops/hook-two/webhook/generic-webhook", body, jsonHeaders(scoped))
	assert.Equal(t, 404, r.status)
	r = h.do("POST", "/v1/apps/socialops/hook-one/webhook/generic-webhook", body, jsonHeaders(far))
	assert.Equal(t, 403, r.status)
	assert.Equal(t, "ip_not_allowed", r.errorCode())
	assert.Equal(t, head, h.head(), "nothing stored")
	r = h.do("POST", "/v1/apps/socialops/hook-one/webhook/generic-webhook", body, jsonHeaders(scoped))
	assert.Equal(t, 202, r.status, string(r.body))
}

// The webhook's API-key path spends the key's own rate and says so.
func TestWebhookKeyRateHeaders(t *testing.T) {
	h := newHarnessWith(t, pgtest.NewPool(t), func(d *httpapi.Deps) { d.RateLimitRPS, d.RateLimitBurst = 1000, 1000 })
	h.instance("owner-wr", "hook-rate")
	key, _ := h.credential(postgres.CredentialSpec{OwnerID: "owner-wr", Scopes: []string{postgres.ScopeWrite}, RatePerSecond: 1})
	body := func(id string) []byte { return []byte(`{"event_id":"` + id + `","thread_id":"chat-r","text":"hello"}`) }
	r := h.do("POST", "/v1/apps/socialops/hook-rate/webhook/generic-webhook", body("r1"), jsonHeaders(key))
	require.Equal(t, 202, r.status, string(r.body))
	assert.Equal(t, "2", r.header.Get("X-RateLimit-Limit"))
	h.do("POST", "/v1/apps/socialops/hook-rate/webhook/generic-webhook", body("r2"), jsonHeaders(key))
	r = h.do("POST", "/v1/apps/socialops/hook-rate/webhook/generic-webhook", body("r3"), jsonHeaders(key))
	assert.Equal(t, 429, r.status)
	assert.NotEmpty(t, r.header.Get("Retry-After"))
}

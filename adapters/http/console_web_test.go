package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/console"
	httpapi "github.com/socialops/socialops/adapters/http"
	"github.com/socialops/socialops/adapters/postgres/pgtest"
)

// consoleUI serves the web console's pages on the harness and resolves its cookie.
type consoleUI struct {
	*console.Console
	httpapi.ConsoleSessions
}

func newConsoleHarness(t *testing.T) *harness {
	pool := pgtest.NewPool(t)
	ui := console.New(console.Deps{Pool: pool, Secret: testJWTSecret})
	return newHarnessWith(t, pool, func(d *httpapi.Deps) { d.ConsoleSessions = consoleUI{ui, ui.Sessions()} })
}

// page fetches a console page without following redirects.
func (h *harness) page(method, path string, form url.Values, header map[string]string) (*http.Response, string) {
	h.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, h.srv.URL+path, body)
	require.NoError(h.t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	require.NoError(h.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func sessionCookie(t *testing.T, resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == console.CookieName && c.Value != "" {
			return c
		}
	}
	t.Fatalf("no session cookie in %v", resp.Header.Values("Set-Cookie"))
	return nil
}

func (h *harness) csrf(cookie string) string {
	resp, body := h.page("GET", "/console/session", nil, map[string]string{"Cookie": cookie})
	require.Equal(h.t, 200, resp.StatusCode, body)
	i := strings.Index(body, `"csrf_token":"`)
	require.Positive(h.t, i, body)
	rest := body[i+len(`"csrf_token":"`):]
	return rest[:strings.Index(rest, `"`)]
}

func TestConsoleSignInLinkIsOneTime(t *testing.T) {
	h := newConsoleHarness(t)
	h.instance("alice", "support")
	link, err := console.MintLink(testJWTSecret, h.srv.URL, "alice", []string{"service:manage"}, time.Now())
	require.NoError(t, err)
	path := strings.TrimPrefix(link, h.srv.URL)

	resp, _ := h.page("GET", path, nil, nil)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	assert.Equal(t, "/console/", resp.Header.Get("Location"), "the link leaves the address bar")
	ck := sessionCookie(t, resp)
	assert.True(t, ck.HttpOnly)
	assert.Equal(t, http.SameSiteStrictMode, ck.SameSite)
	assert.False(t, ck.Secure, "plain HTTP here; Secure over TLS")
	cookie := console.CookieName + "=" + ck.Value

	// The app opens with the cookie, under a strict policy.
	resp, body := h.page("GET", "/console/", nil, map[string]string{"Cookie": cookie, "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
	require.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, body, `<html lang="zh">`)
	csp := resp.Header.Get("Content-Security-Policy")
	assert.Contains(t, csp, "script-src 'self'")
	assert.NotContains(t, csp, "unsafe-inline")
	assert.Contains(t, csp, "frame-ancestors 'none'")
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))

	// A second use of the link opens nothing.
	resp, body = h.page("GET", path, nil, nil)
	assert.Equal(t, http.StatusGone, resp.StatusCode)
	assert.Contains(t, body, "used already")
	assert.Empty(t, resp.Cookies())

	// An expired link and a forged one are refused.
	old, err := console.MintLink(testJWTSecret, h.srv.URL, "alice", []string{"service:manage"}, time.Now().Add(-11*time.Minute))
	require.NoError(t, err)
	resp, body = h.page("GET", strings.TrimPrefix(old, h.srv.URL), nil, nil)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Contains(t, body, "expired")
	forged, err := console.MintLink([]byte("another-secret-that-is-32-bytes-long!!"), h.srv.URL, "alice", []string{"service:manage"}, time.Now())
	require.NoError(t, err)
	resp, _ = h.page("GET", strings.TrimPrefix(forged, h.srv.URL), nil, nil)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Empty(t, resp.Cookies())

	// A link token is no API token.
	tok, _ := url.QueryUnescape(strings.TrimPrefix(path, "/console/signin?link="))
	r := h.do("GET", "/console/socialops/instances", nil, bearer(tok))
	assert.Equal(t, 401, r.status)

	// Without a session the app sends the browser to sign in.
	resp, _ = h.page("GET", "/console/", nil, nil)
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode)
	assert.Equal(t, "/console/signin", resp.Header.Get("Location"))
}

func TestConsoleCookieSessionNeedsCSRFAndEndsAtSignOut(t *testing.T) {
	h := newConsoleHarness(t)
	h.instance("alice", "support")
	key := h.key("alice", "socialops:write", "socialops:read")
	thread, _ := h.openThread("support", key, "evt_csrf")

	// Sign in with a pasted token (a cross-site form post is refused).
	form := url.Values{"token": {h.token("alice", "service:manage")}}
	resp, body := h.page("POST", "/console/signin", form, map[string]string{"Origin": "https://evil.example"})
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, body)
	assert.Empty(t, resp.Cookies())
	resp, body = h.page("POST", "/console/signin", url.Values{"token": {"not.a.jwt"}}, nil)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Contains(t, body, "malformed token")
	resp, _ = h.page("POST", "/console/signin", form, map[string]string{"Origin": h.srv.URL})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	cookie := console.CookieName + "=" + sessionCookie(t, resp).Value

	r := h.do("GET", "/console/socialops/instances", nil, map[string]string{"Cookie": cookie})
	require.Equal(t, 200, r.status, string(r.body))

	// A change without the CSRF token is refused and stores nothing.
	head := h.head()
	r = h.do("POST", "/console/socialops/support/threads/"+thread+"/notes", []byte(`{"text":"from a forged form"}`),
		map[string]string{"Cookie": cookie, "Content-Type": "application/json"})
	assert.Equal(t, 403, r.status)
	assert.Equal(t, "csrf_failed", r.errorCode())
	r = h.do("POST", "/console/socialops/support/threads/"+thread+"/notes", []byte(`{"text":"from a forged form"}`),
		map[string]string{"Cookie": cookie, "Content-Type": "application/json", httpapi.CSRFHeader: "wrong"})
	assert.Equal(t, "csrf_failed", r.errorCode())
	assert.Equal(t, head, h.head(), "nothing appended")

	csrf := h.csrf(cookie)
	r = h.do("POST", "/console/socialops/support/threads/"+thread+"/notes", []byte(`{"text":"checked"}`),
		map[string]string{"Cookie": cookie, "Content-Type": "application/json", httpapi.CSRFHeader: csrf})
	require.Equal(t, 201, r.status, string(r.body))

	// Signing out needs the token too, then the cookie opens nothing.
	resp, _ = h.page("POST", "/console/signout", nil, map[string]string{"Cookie": cookie})
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	resp, _ = h.page("POST", "/console/signout", nil, map[string]string{"Cookie": cookie, httpapi.CSRFHeader: csrf})
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode)
	r = h.do("GET", "/console/socialops/instances", nil, map[string]string{"Cookie": cookie})
	assert.Equal(t, 401, r.status)
	resp, _ = h.page("GET", "/console/session", nil, map[string]string{"Cookie": cookie})
	assert.Equal(t, 401, resp.StatusCode)
}

func TestConsoleAcceptAndCloseAndSessionFilters(t *testing.T) {
	h := newConsoleHarness(t)
	h.instance("alice", "support")
	key := h.key("alice", "socialops:write", "socialops:read")
	manage := h.token("alice", "service:manage")
	thread, _ := h.openThread("support", key, "evt_accept")
	op := h.consoleOperator("support", manage, "Mei")
	h.settle()

	r := h.console("GET", "/support/inbox?session_state=pending", manage, "")
	require.Equal(t, 200, r.status, string(r.body))
	assert.Contains(t, string(r.body), thread)
	assert.Contains(t, string(r.body), `"session_state":"pending"`)
	r = h.console("GET", "/support/inbox?session_state=waiting", manage, "")
	assert.Equal(t, 400, r.status)
	assert.Equal(t, "invalid_parameter", r.errorCode())

	head := h.head()
	r = h.console("POST", "/support/threads/"+thread+"/accept", manage, `{}`)
	assert.Equal(t, 422, r.status)
	assert.Equal(t, "missing_field", r.errorCode())
	r = h.console("POST", "/support/threads/"+thread+"/accept", manage, `{"operator_id":0}`)
	assert.Equal(t, "invalid_field", r.errorCode())
	r = h.console("POST", "/support/threads/"+thread+"/accept", manage, `{"operator_id":999}`)
	assert.Equal(t, "operator_not_found", r.errorCode())
	r = h.console("POST", "/support/threads/soth_nope/accept", manage, fmt.Sprintf(`{"operator_id":%s}`, op))
	assert.Equal(t, "thread_not_found", r.errorCode())
	r = h.console("POST", "/support/threads/"+thread+"/accept", h.token("alice", "service:read"), fmt.Sprintf(`{"operator_id":%s}`, op))
	assert.Equal(t, "missing_permission", r.errorCode())
	assert.Equal(t, head, h.head(), "refusals store nothing")

	r = h.console("POST", "/support/threads/"+thread+"/accept", manage, fmt.Sprintf(`{"operator_id":%s}`, op))
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, "manual", data(r)["session_state"])
	accepted := r.header.Get("X-SocialOps-Position")
	r = h.do("GET", "/console/socialops/support/inbox?assignee=nobody", nil, bearer(manage))
	assert.Equal(t, 200, r.status)
	r = h.do("GET", "/console/socialops/support/inbox?session_state=manual", nil, map[string]string{"Authorization": "Bearer " + manage,
		"X-SocialOps-Position": accepted})
	assert.Contains(t, string(r.body), `"session_operator_id":`+op)

	r = h.console("POST", "/support/threads/"+thread+"/close", manage, "")
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, "closed", data(r)["session_state"])
	r = h.do("GET", "/console/socialops/support/inbox?session_state=closed", nil, map[string]string{"Authorization": "Bearer " + manage,
		"X-SocialOps-Position": r.header.Get("X-SocialOps-Position")})
	assert.Contains(t, string(r.body), thread, "the filter reads the inbox's own session state")
	r = h.console("GET", "/support/inbox?session_state=pending", manage, "")
	assert.NotContains(t, string(r.body), thread)
	var differ int
	require.NoError(t, h.pool.QueryRow(context.Background(), `SELECT count(*) FROM inbox_threads t JOIN sessions s USING (thread_id)
		WHERE t.session_state IS DISTINCT FROM s.status`).Scan(&differ))
	assert.Zero(t, differ, "the inbox and the sessions read model agree on every session's state")

	// Closing again is idempotent: answered, nothing appended.
	head = h.head()
	r = h.console("POST", "/support/threads/"+thread+"/close", manage, "")
	assert.Equal(t, 200, r.status)
	assert.Equal(t, head, h.head())
}

func TestConsoleReport(t *testing.T) {
	h := newConsoleHarness(t)
	h.instance("alice", "support")
	key := h.key("alice", "socialops:write", "socialops:read")
	read := h.token("alice", "service:read")
	thread, _ := h.openThread("support", key, "evt_overview_1")
	h.openThread("support", key, "evt_overview_2")
	r := h.console("POST", "/support/threads/"+thread+"/notes", h.token("alice", "service:manage"), `{"text":"a note is no reply"}`)
	require.Equal(t, 201, r.status)
	r = h.console("POST", "/support/threads/"+thread+"/replies", h.token("alice", "service:manage"), `{"text":"on it"}`)
	require.Equal(t, 201, r.status, string(r.body))
	h.settle()

	today := time.Now().UTC().Format(time.DateOnly)
	r = h.console("GET", "/support/reports?start_date="+today+"&end_date="+today, read, "")
	require.Equal(t, 200, r.status, string(r.body))
	series := data(r)["series"].([]any)
	require.Len(t, series, 1)
	row := series[0].(map[string]any)
	assert.Equal(t, today, row["period"])
	metrics := row["metrics"].(map[string]any)
	assert.Equal(t, float64(2), metrics["conversations_created"])
	assert.Equal(t, float64(1), metrics["first_responses"], "the note is not a response")
	r = h.console("GET", "/support/reports?start_date="+today+"&end_date="+today+"&dimensions=channel", read, "")
	require.Equal(t, 200, r.status)
	assert.Equal(t, "generic-webhook", data(r)["totals"].([]any)[0].(map[string]any)["dimension"].(map[string]any)["channel"])

	for _, q := range []string{"", "?start_date=2026-01-01", "?start_date=2026-13-01&end_date=2026-12-01",
		"?start_date=2026-02-01&end_date=2026-01-01", "?start_date=2025-01-01&end_date=2026-01-02",
		"?start_date=2026-01-01&end_date=2026-01-02&dimensions=team"} {
		r = h.console("GET", "/support/reports"+q, read, "")
		assert.Equal(t, 400, r.status, q)
		assert.Equal(t, "invalid_parameter", r.errorCode(), q)
	}
}

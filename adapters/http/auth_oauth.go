package httpapi

import (
	"errors"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/socialops/socialops/adapters/postgres"
)

// defaultAccessTokenTTL is how long an OAuth2 access token lives when
// Deps.AccessTokenTTL is not set.
const defaultAccessTokenTTL = time.Hour

// oauthError is an error answer of the token endpoint, exactly as RFC 6749
// §5.2 shapes it (not SocialOps' envelope: OAuth2 clients parse this one).
type oauthError struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description,omitempty"`
}

type oauthToken struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope"`
}

func (h *handlers) oauthFail(c *gin.Context, status int, code, description string) {
	if status == http.StatusUnauthorized {
		c.Header("WWW-Authenticate", `Basic realm="socialops", charset="UTF-8"`)
	}
	c.Header("Cache-Control", "no-store")
	c.Header("Pragma", "no-cache")
	c.Set("error_code", code)
	c.AbortWithStatusJSON(status, oauthError{Error: code, ErrorDescription: description})
}

// oauthServerError answers a failure of ours: temporarily_unavailable (503,
// Retry-After) when the database is unreachable, else server_error (500).
func (h *handlers) oauthServerError(c *gin.Context, err error) {
	if unavailable(err) {
		h.Logger.Warn("backing service unavailable", "path", c.FullPath(), "request_id", requestID(c), "error", err)
		c.Header("Retry-After", "1")
		h.oauthFail(c, http.StatusServiceUnavailable, "temporarily_unavailable", "retry later")
		return
	}
	h.Logger.Error("oauth token request failed", "request_id", requestID(c), "error", err)
	h.oauthFail(c, http.StatusInternalServerError, "server_error", "")
}

// oauthToken is POST /oauth/token: the client credentials grant (RFC 6749
// §4.4). The client authenticates with HTTP Basic or with client_id and
// client_secret in the form, never both.
func (h *handlers) oauthToken(c *gin.Context) {
	ct, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || ct != "application/x-www-form-urlencoded" {
		h.oauthFail(c, http.StatusBadRequest, "invalid_request", "the body must be application/x-www-form-urlencoded")
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, 64<<10)
	if err := c.Request.ParseForm(); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			h.oauthFail(c, http.StatusRequestEntityTooLarge, "invalid_request", "the body is larger than 64 KiB")
			return
		}
		h.oauthFail(c, http.StatusBadRequest, "invalid_request", "the form could not be read")
		return
	}
	form := c.Request.PostForm
	for name, vs := range form {
		if len(vs) > 1 {
			h.oauthFail(c, http.StatusBadRequest, "invalid_request", "the parameter "+name+" is repeated")
			return
		}
	}
	grant := form.Get("grant_type")
	if grant == "" {
		h.oauthFail(c, http.StatusBadRequest, "invalid_request", "grant_type is required")
		return
	}
	clientID, secret, basic := c.Request.BasicAuth()
	if basic {
		// RFC 6749 §2.3.1: both parts are form-encoded inside Basic.
		id, err1 := url.QueryUnescape(clientID)
		sec, err2 := url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			h.oauthFail(c, http.StatusUnauthorized, "invalid_client", "the Basic credentials are not form-encoded")
			return
		}
		clientID, secret = id, sec
		if form.Has("client_secret") {
			h.oauthFail(c, http.StatusBadRequest, "invalid_request", "authenticate with HTTP Basic or with client_secret in the body, not both")
			return
		}
	} else {
		clientID, secret = form.Get("client_id"), form.Get("client_secret")
	}
	if grant != "client_credentials" {
		h.oauthFail(c, http.StatusBadRequest, "unsupported_grant_type", "only grant_type=client_credentials is supported")
		return
	}
	if clientID == "" || secret == "" {
		h.oauthFail(c, http.StatusUnauthorized, "invalid_client", "client authentication is required (HTTP Basic, or client_id and client_secret)")
		return
	}
	ctx := c.Request.Context()
	client, err := h.Tenancy.CredentialByPublicID(ctx, postgres.KindOAuthClient, clientID)
	if err == nil {
		var ok bool
		if ok, err = h.Tenancy.CheckClientSecret(ctx, client, secret); err == nil && !ok {
			err = postgres.ErrKeyNotFound
		}
	}
	if err != nil {
		if code := errorCode(err); code == "" {
			h.oauthServerError(c, err)
			return
		}
		h.oauthFail(c, http.StatusUnauthorized, "invalid_client", "unknown client, wrong secret, or a revoked or expired client")
		return
	}
	if addr, err := netip.ParseAddr(c.ClientIP()); err != nil || !client.AllowsIP(addr) {
		h.oauthFail(c, http.StatusUnauthorized, "invalid_client", "this client may not be used from "+c.ClientIP())
		return
	}
	scopes := client.Scopes
	if s, ok := form["scope"]; ok {
		scopes = nil
		for _, want := range strings.Fields(s[0]) {
			if !client.HasScope(want) {
				h.oauthFail(c, http.StatusBadRequest, "invalid_scope", "the client may not ask for "+want)
				return
			}
			scopes = append(scopes, want)
		}
		if len(scopes) == 0 {
			h.oauthFail(c, http.StatusBadRequest, "invalid_scope", "scope is empty")
			return
		}
	}
	ttl := h.AccessTokenTTL
	if ttl <= 0 {
		ttl = defaultAccessTokenTTL
	}
	token, exp, err := h.Tenancy.IssueAccessToken(ctx, client, scopes, ttl)
	if err != nil {
		h.oauthServerError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Header("Pragma", "no-cache")
	c.JSON(http.StatusOK, oauthToken{AccessToken: token, TokenType: "Bearer",
		ExpiresIn: int64(time.Until(exp).Round(time.Second).Seconds()), Scope: strings.Join(scopes, " ")})
}

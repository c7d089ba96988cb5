package httpapi

// An internal test: userAuth and consoleInstance are unexported and no route
// uses them yet, so a tiny engine is built here around them.

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/postgres"
	"github.com/socialops/socialops/adapters/postgres/pgtest"
	"github.com/socialops/socialops/domain"
)

var (
	consoleSecret = []byte("0123456789abcdef0123456789abcdef-console")
	consoleNow    = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
)

// consoleEngine serves three console-shaped routes behind userAuth.
func consoleEngine(secret []byte, tenancy *postgres.Tenancy) *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	h := &handlers{Deps: Deps{
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Tenancy:   tenancy,
		JWTSecret: secret,
		Now:       func() time.Time { return consoleNow },
	}}
	r := gin.New()
	r.GET("/console/socialops/instances", h.userAuth(PermissionRead), func(c *gin.Context) {
		c.JSON(http.StatusOK, gin.H{"user": userOf(c), "actor": actorOf(c)})
	})
	withInstance := func(c *gin.Context) {
		if _, ok := h.consoleInstance(c); !ok {
			return
		}
		c.JSON(http.StatusOK, gin.H{"user": userOf(c), "alias": instanceOf(c).Alias, "owner": instanceOf(c).OwnerID})
	}
	r.GET("/console/socialops/:alias/inbox", h.userAuth(PermissionRead), withInstance)
	r.POST("/console/socialops/:alias/channels", h.userAuth(PermissionManage), withInstance)
	return r
}

type consoleAnswer struct {
	Status    int
	Challenge string
	Body      map[string]any
}

func (a consoleAnswer) code() string {
	e, _ := a.Body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func (a consoleAnswer) message() string {
	e, _ := a.Body["error"].(map[string]any)
	s, _ := e["message"].(string)
	return s
}

func consoleCall(t *testing.T, r *gin.Engine, method, path, authorization string) consoleAnswer {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	var body map[string]any
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body), w.Body.String())
	return consoleAnswer{Status: w.Code, Challenge: w.Header().Get("WWW-Authenticate"), Body: body}
}

func mint(t *testing.T, user string, ttl time.Duration, permissions ...string) string {
	t.Helper()
	tok, err := MintToken(consoleSecret, user, permissions, ttl, consoleNow)
	require.NoError(t, err)
	return "Bearer " + tok
}

func signed(t *testing.T, method jwt.SigningMethod, key any, claims jwt.Claims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(method, claims).SignedString(key)
	require.NoError(t, err)
	return "Bearer " + tok
}

func readClaims(sub string, exp time.Time) consoleClaims {
	c := consoleClaims{Permissions: []string{PermissionRead}, RegisteredClaims: jwt.RegisteredClaims{Subject: sub}}
	if !exp.IsZero() {
		c.ExpiresAt = jwt.NewNumericDate(exp)
	}
	return c
}

func TestConsoleAuthValidToken(t *testing.T) {
	r := consoleEngine(consoleSecret, nil)
	a := consoleCall(t, r, "GET", "/console/socialops/instances", mint(t, "user-1", time.Hour, PermissionRead))
	require.Equal(t, http.StatusOK, a.Status, a.Body)
	assert.Equal(t, "user-1", a.Body["user"])
	assert.Equal(t, map[string]any{"kind": domain.ActorUser, "id": "user-1"}, a.Body["actor"])

	// The scheme is case-insensitive.
	tok, err := MintToken(consoleSecret, "user-1", []string{PermissionRead}, time.Hour, consoleNow)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, consoleCall(t, r, "GET", "/console/socialops/instances", "bearer "+tok).Status)

	// Expired a few seconds ago: within the 30 s leeway.
	skewed, err := MintToken(consoleSecret, "user-1", []string{PermissionRead}, time.Hour, consoleNow.Add(-time.Hour-10*time.Second))
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, consoleCall(t, r, "GET", "/console/socialops/instances", "Bearer "+skewed).Status)
}

func TestConsoleAuthRefusesBadTokens(t *testing.T) {
	r := consoleEngine(consoleSecret, nil)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	expired, err := MintToken(consoleSecret, "user-1", []string{PermissionRead}, time.Hour, consoleNow.Add(-2*time.Hour))
	require.NoError(t, err)
	otherSecret, err := MintToken([]byte("another-secret-another-secret-another"), "user-1", []string{PermissionRead}, time.Hour, consoleNow)
	require.NoError(t, err)
	exp := consoleNow.Add(time.Hour)

	cases := map[string]struct {
		authorization string
		says          string
	}{
		"missing header":         {"", "missing token"},
		"basic scheme":           {"Basic dXNlcjpwYXNz", "malformed Authorization header"},
		"bearer without token":   {"Bearer ", "malformed Authorization header"},
		"not a JWT":              {"Bearer not-a-jwt", "malformed token"},
		"garbage segments":       {"Bearer abc.def.ghi", "malformed token"},
		"expired":                {"Bearer " + expired, "expired"},
		"wrong signature":        {"Bearer " + otherSecret, "bad signature"},
		"alg none":               {signed(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, readClaims("user-1", exp)), `wrong alg: the token is signed with "none"`},
		"HS512 with same secret": {signed(t, jwt.SigningMethodHS512, consoleSecret, readClaims("user-1", exp)), `wrong alg: the token is signed with "HS512"`},
		"RS256":                  {signed(t, jwt.SigningMethodRS256, rsaKey, readClaims("user-1", exp)), `wrong alg: the token is signed with "RS256"`},
		"no exp":                 {signed(t, jwt.SigningMethodHS256, consoleSecret, readClaims("user-1", time.Time{})), "no exp"},
		"no sub":                 {signed(t, jwt.SigningMethodHS256, consoleSecret, readClaims("", exp)), "no sub"},
		"permissions not a list": {signed(t, jwt.SigningMethodHS256, consoleSecret, jwt.MapClaims{"sub": "user-1", "exp": exp.Unix(), "permissions": "service:read"}), "malformed token"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			a := consoleCall(t, r, "GET", "/console/socialops/instances", tc.authorization)
			assert.Equal(t, http.StatusUnauthorized, a.Status)
			assert.Equal(t, "invalid_token", a.code())
			assert.Contains(t, a.message(), tc.says)
			assert.Equal(t, `Bearer error="invalid_token"`, a.Challenge)
		})
	}
}

func TestConsoleAuthPermissions(t *testing.T) {
	tenancy := postgres.NewTenancy(pgtest.NewPool(t), nil)
	_, err := tenancy.CreateInstance(context.Background(), "user-1", "support")
	require.NoError(t, err)
	r := consoleEngine(consoleSecret, tenancy)

	// Read on a manage route: 403 naming the permission.
	a := consoleCall(t, r, "POST", "/console/socialops/support/channels", mint(t, "user-1", time.Hour, PermissionRead))
	assert.Equal(t, http.StatusForbidden, a.Status)
	assert.Equal(t, "missing_permission", a.code())
	assert.Contains(t, a.message(), PermissionManage)

	// No permission at all, or an unknown one: 403 on a read route.
	for _, perms := range [][]string{nil, {"service:write"}} {
		a = consoleCall(t, r, "GET", "/console/socialops/support/inbox", mint(t, "user-1", time.Hour, perms...))
		assert.Equal(t, http.StatusForbidden, a.Status)
		assert.Contains(t, a.message(), PermissionRead)
	}

	// Manage implies read.
	a = consoleCall(t, r, "GET", "/console/socialops/support/inbox", mint(t, "user-1", time.Hour, PermissionManage))
	require.Equal(t, http.StatusOK, a.Status, a.Body)
	assert.Equal(t, "support", a.Body["alias"])
	a = consoleCall(t, r, "POST", "/console/socialops/support/channels", mint(t, "user-1", time.Hour, PermissionManage))
	assert.Equal(t, http.StatusOK, a.Status)
}

func TestConsoleInstanceOfAnotherUserIsNotFound(t *testing.T) {
	tenancy := postgres.NewTenancy(pgtest.NewPool(t), nil)
	_, err := tenancy.CreateInstance(context.Background(), "user-1", "support")
	require.NoError(t, err)
	r := consoleEngine(consoleSecret, tenancy)

	a := consoleCall(t, r, "GET", "/console/socialops/support/inbox", mint(t, "user-1", time.Hour, PermissionRead))
	require.Equal(t, http.StatusOK, a.Status, a.Body)
	assert.Equal(t, "user-1", a.Body["owner"])

	other := consoleCall(t, r, "GET", "/console/socialops/support/inbox", mint(t, "user-2", time.Hour, PermissionManage))
	missing := consoleCall(t, r, "GET", "/console/socialops/nowhere/inbox", mint(t, "user-2", time.Hour, PermissionManage))
	for _, a := range []consoleAnswer{other, missing} {
		assert.Equal(t, http.StatusNotFound, a.Status)
		assert.Equal(t, "instance_not_found", a.code())
	}
	assert.Equal(t, missing.Body, other.Body, "another user's instance looks like a missing one")
}

func TestConsoleDisabledWithoutSecret(t *testing.T) {
	for _, secret := range [][]byte{nil, {}} {
		r := consoleEngine(secret, nil)
		a := consoleCall(t, r, "GET", "/console/socialops/instances", mint(t, "user-1", time.Hour, PermissionRead))
		assert.Equal(t, http.StatusUnauthorized, a.Status)
		assert.Equal(t, "console_disabled", a.code())
		assert.Contains(t, a.message(), "SOCIALOPS_JWT_SECRET")
	}
}

func TestMintToken(t *testing.T) {
	tok, err := MintToken(consoleSecret, "user-9", []string{PermissionManage}, 90*time.Minute, consoleNow)
	require.NoError(t, err)
	var claims consoleClaims
	parsed, err := jwt.ParseWithClaims(tok, &claims, func(*jwt.Token) (any, error) { return consoleSecret, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithTimeFunc(func() time.Time { return consoleNow }))
	require.NoError(t, err)
	assert.Equal(t, "HS256", parsed.Header["alg"])
	assert.Equal(t, "user-9", claims.Subject)
	assert.Equal(t, []string{PermissionManage}, claims.Permissions)
	assert.Equal(t, consoleNow.Add(90*time.Minute).Unix(), claims.ExpiresAt.Unix())

	_, err = MintToken(nil, "user-9", nil, time.Hour, consoleNow)
	assert.Error(t, err)
	_, err = MintToken(consoleSecret, " ", nil, time.Hour, consoleNow)
	assert.Error(t, err)
	_, err = MintToken(consoleSecret, "user-9", nil, 0, consoleNow)
	assert.Error(t, err)
}

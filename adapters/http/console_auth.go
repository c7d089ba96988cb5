package httpapi

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"

	"github.com/socialops/socialops/domain"
)

// Console permissions carried in a user JWT. PermissionManage implies PermissionRead.
const (
	PermissionRead   = "service:read"
	PermissionManage = "service:manage"
)

// KnownPermissions lists the permissions a console token may carry.
var KnownPermissions = []string{PermissionRead, PermissionManage}

// Errors of console (user JWT) authentication.
var (
	errInvalidToken      = &domain.Error{Code: "invalid_token", Message: "the bearer token is not valid"}
	errConsoleDisabled   = &domain.Error{Code: "console_disabled", Message: "the console is disabled: the server has no SOCIALOPS_JWT_SECRET"}
	errMissingPermission = &domain.Error{Code: "missing_permission", Message: "the token lacks the permission this endpoint needs"}
)

const (
	// ctxUser holds the authenticated console user's id (the owner id).
	ctxUser = "user_id"
	// jwtAlg is the only signing method console tokens may use.
	jwtAlg = "HS256"
	// jwtLeeway absorbs clock skew between the token issuer and this server.
	jwtLeeway = 30 * time.Second
)

// consoleClaims are the claims of a console token: sub (the user id, which is
// the owner id of instances and accounts), permissions, exp.
type consoleClaims struct {
	Permissions []string `json:"permissions"`
	jwt.RegisteredClaims
}

// MintToken signs a console token (HS256) for a user with the given
// permissions, valid for ttl from now. It does not check the permissions
// against KnownPermissions: the caller does (the CLI), so tests can mint odd ones.
func MintToken(secret []byte, user string, permissions []string, ttl time.Duration, now time.Time) (string, error) {
	if len(secret) == 0 {
		return "", errors.New("mint token: no secret (SOCIALOPS_JWT_SECRET)")
	}
	if strings.TrimSpace(user) == "" {
		return "", errors.New("mint token: a user id is required")
	}
	if ttl <= 0 {
		return "", errors.New("mint token: the ttl must be positive")
	}
	if permissions == nil {
		permissions = []string{}
	}
	claims := consoleClaims{
		Permissions: permissions,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   user,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
}

// userAuth guards /console/socialops/... routes: an `Authorization: Bearer
// <JWT>` header signed HS256 with Deps.JWTSecret, unexpired, with a sub (else
// 401 invalid_token), carrying the permission (else 403 missing_permission).
// It sets the user id (userOf) and the actor (actorOf); routes with an :alias
// then call consoleInstance.
func (h *handlers) userAuth(permission string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if len(h.JWTSecret) == 0 {
			writeError(c, h.Logger, errConsoleDisabled)
			return
		}
		claims, ok := h.browserSession(c)
		if !ok {
			return
		}
		if claims == nil {
			raw, err := bearerToken(c.GetHeader("Authorization"))
			if err != nil {
				unauthorized(c, h, err)
				return
			}
			if claims, err = h.parseConsoleToken(raw); err != nil {
				unauthorized(c, h, err)
				return
			}
		}
		if !hasPermission(claims.Permissions, permission) {
			writeError(c, h.Logger, domain.Errorf(errMissingPermission, "this endpoint needs the %s permission", permission))
			return
		}
		if !h.limit(c, "user:"+claims.Subject) {
			return
		}
		c.Set(ctxUser, claims.Subject)
		c.Set(ctxActor, domain.Actor{Kind: domain.ActorUser, ID: claims.Subject})
		c.Next()
	}
}

// unauthorized answers 401 with a Bearer challenge.
func unauthorized(c *gin.Context, h *handlers, err error) {
	c.Header("WWW-Authenticate", `Bearer error="invalid_token"`)
	writeError(c, h.Logger, err)
}

func bearerToken(header string) (string, error) {
	if header == "" {
		return "", domain.Errorf(errInvalidToken, "missing token: send an Authorization: Bearer <token> header")
	}
	scheme, token, ok := strings.Cut(header, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || strings.ContainsAny(token, " \t") {
		return "", domain.Errorf(errInvalidToken, "malformed Authorization header: expected Bearer <token>")
	}
	return token, nil
}

// VerifyConsoleToken verifies a console token as the API does and returns its
// user, permissions and expiry (the web console's sign-in with a pasted token).
func VerifyConsoleToken(secret []byte, raw string, now time.Time) (user string, permissions []string, expires time.Time, err error) {
	h := &handlers{Deps: Deps{JWTSecret: secret, Now: func() time.Time { return now }}}
	claims, err := h.parseConsoleToken(raw)
	if err != nil {
		return "", nil, time.Time{}, err
	}
	if claims.ExpiresAt != nil {
		expires = claims.ExpiresAt.Time
	}
	return claims.Subject, claims.Permissions, expires, nil
}

// parseConsoleToken verifies a token and says, in a domain error, why it is refused.
func (h *handlers) parseConsoleToken(raw string) (*consoleClaims, error) {
	now := h.Now
	if now == nil {
		now = time.Now
	}
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwtAlg}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(jwtLeeway),
		jwt.WithTimeFunc(now),
	)
	claims := &consoleClaims{}
	token, err := parser.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		// WithValidMethods already refused other algorithms; this keeps the
		// key from ever meeting a non-HMAC method should that option go.
		if t.Method != jwt.SigningMethodHS256 {
			return nil, fmt.Errorf("unexpected signing method %v", t.Header["alg"])
		}
		return h.JWTSecret, nil
	})
	if err == nil {
		if strings.TrimSpace(claims.Subject) == "" {
			return nil, domain.Errorf(errInvalidToken, "the token has no sub (user id)")
		}
		return claims, nil
	}
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return nil, domain.Errorf(errInvalidToken, "malformed token: not a JWT with JSON claims")
	case token != nil && token.Header["alg"] != jwtAlg:
		return nil, domain.Errorf(errInvalidToken, "wrong alg: the token is signed with %q; only %s is accepted", fmt.Sprint(token.Header["alg"]), jwtAlg)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return nil, domain.Errorf(errInvalidToken, "bad signature")
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, domain.Errorf(errInvalidToken, "the token is expired")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return nil, domain.Errorf(errInvalidToken, "the token has no exp")
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return nil, domain.Errorf(errInvalidToken, "the token is not valid yet (nbf)")
	default:
		return nil, domain.Errorf(errInvalidToken, "the token is not valid")
	}
}

// hasPermission tells whether granted satisfies needed: manage implies read.
func hasPermission(granted []string, needed string) bool {
	for _, p := range granted {
		if p == needed || (p == PermissionManage && needed == PermissionRead) {
			return true
		}
	}
	return false
}

// userOf is the console user (owner) id set by userAuth.
func userOf(c *gin.Context) string { return c.GetString(ctxUser) }

// consoleInstance loads the :alias instance for the console user: answers 404
// instance_not_found when it does not exist or belongs to another user (so
// other users' instances do not show they exist) and returns false. On success
// the instance is set for instanceOf.
func (h *handlers) consoleInstance(c *gin.Context) (domain.Instance, bool) {
	inst, err := h.Tenancy.InstanceByAlias(c.Request.Context(), c.Param("alias"))
	if err != nil {
		writeError(c, h.Logger, err)
		return domain.Instance{}, false
	}
	if user := userOf(c); user == "" || inst.OwnerID != user {
		writeError(c, h.Logger, domain.ErrInstanceNotFound)
		return domain.Instance{}, false
	}
	c.Set(ctxInstance, inst)
	return inst, true
}

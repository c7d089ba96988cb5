package httpapi

import (
	"net/netip"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/socialops/socialops/adapters/postgres"
	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

const (
	ctxInstance   = "instance"
	ctxActor      = "actor"
	ctxCredential = "credential"
)

// Errors of credential checks.
var (
	errIPNotAllowed = &domain.Error{Code: "ip_not_allowed", Message: "the credential may not be used from this address"}
)

// apiKeyAuth guards /v1/apps/socialops/:alias/... routes. It accepts every
// credential of the integration interface — an API key (X-API-Key or
// Authorization: Bearer sk_…), an OAuth2 access token (Bearer sat_…) or a
// signed request (X-Access-Key, X-Timestamp, X-Nonce, X-Signature) — and
// then applies the same policy to each:
//   - none, or a wrong, revoked or expired one: 401;
//   - the client address outside the credential's allowlist: 403 ip_not_allowed;
//   - an instance not the owner's, or not the credential's own: 404, so
//     other instances do not show they exist;
//   - the scope missing: 403;
//   - over its rate: 429 with Retry-After (X-RateLimit-* on every answer).
func (h *handlers) apiKeyAuth(scope string) gin.HandlerFunc {
	return func(c *gin.Context) {
		key, err := h.credentialOf(c)
		if err != nil {
			writeError(c, h.Logger, err)
			return
		}
		if !h.admit(c, key, scope) {
			return
		}
		c.Next()
	}
}

// credentialOf finds the request's credential and proves it.
func (h *handlers) credentialOf(c *gin.Context) (postgres.APIKey, error) {
	ctx := c.Request.Context()
	if c.GetHeader(headerAccessKey) != "" {
		return h.signedCredential(c)
	}
	secret := c.GetHeader("X-API-Key")
	if secret == "" {
		// The seed faces (003, 004) and OAuth2 send a bearer token.
		if v := c.GetHeader("Authorization"); len(v) > 7 && strings.EqualFold(v[:7], "Bearer ") {
			secret = strings.TrimSpace(v[7:])
		}
	}
	switch {
	case secret == "":
		return postgres.APIKey{}, domain.Errorf(errUnauthenticated,
			"send an X-API-Key header, an Authorization: Bearer token, or a signed request (X-Access-Key)")
	case strings.HasPrefix(secret, "sat_"):
		return h.Tenancy.CredentialByAccessToken(ctx, secret)
	default:
		return h.Tenancy.APIKeyBySecret(ctx, secret)
	}
}

// admit applies a proven credential's policy to the request (see
// apiKeyAuth) and, when it passes, sets the instance, actor and credential.
func (h *handlers) admit(c *gin.Context, key postgres.APIKey, scope string) bool {
	if addr, err := netip.ParseAddr(c.ClientIP()); err != nil || !key.AllowsIP(addr) {
		h.Logger.Info("credential used from an address outside its allowlist", "key_id", key.ID, "ip", c.ClientIP(),
			"request_id", requestID(c))
		writeError(c, h.Logger, domain.Errorf(errIPNotAllowed, "this credential may not be used from %s", c.ClientIP()))
		return false
	}
	inst, err := h.Tenancy.InstanceByAlias(c.Request.Context(), c.Param("alias"))
	if err != nil {
		writeError(c, h.Logger, err)
		return false
	}
	if inst.OwnerID != key.OwnerID || (key.InstanceID != "" && key.InstanceID != inst.ID) {
		writeError(c, h.Logger, domain.ErrInstanceNotFound)
		return false
	}
	if !key.HasScope(scope) {
		writeError(c, h.Logger, domain.Errorf(errMissingScope, "this endpoint needs the %s scope", scope))
		return false
	}
	if !h.limitCredential(c, key) {
		return false
	}
	threadID := c.Param("thread_id")
	if threadID == "" {
		threadID = c.Param("sessionId") // seed 003: a session is its thread
	}
	if key.OperatorID != 0 && threadID != "" {
		// A credential bound to an operator sees only that operator's sessions.
		op, err := projections.SessionOperator(c.Request.Context(), h.Reads, inst.ID, threadID)
		if err != nil {
			writeError(c, h.Logger, err)
			return false
		}
		if op != key.OperatorID {
			writeError(c, h.Logger, domain.ErrThreadNotFound)
			return false
		}
	}
	c.Set(ctxInstance, inst)
	c.Set(ctxActor, domain.Actor{Kind: domain.ActorAPIKey, ID: key.ID})
	c.Set(ctxCredential, key)
	return true
}

func instanceOf(c *gin.Context) domain.Instance {
	inst, _ := c.Get(ctxInstance)
	return inst.(domain.Instance)
}

func actorOf(c *gin.Context) domain.Actor {
	a, _ := c.Get(ctxActor)
	return a.(domain.Actor)
}

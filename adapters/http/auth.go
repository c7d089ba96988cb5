package httpapi

import (
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/socialops/socialops/domain"
)

const (
	ctxInstance = "instance"
	ctxActor    = "actor"
)

// apiKeyAuth guards /v1/apps/socialops/:alias/... routes: a valid key (else
// 401), of the instance's owner (else 404, so another owner's instances do not
// show they exist), carrying the scope (else 403).
func (h *handlers) apiKeyAuth(scope string) gin.HandlerFunc {
	return func(c *gin.Context) {
		secret := c.GetHeader("X-API-Key")
		if secret == "" {
			// The seed faces (003, 004) send the key as a bearer token.
			if v := c.GetHeader("Authorization"); len(v) > 7 && strings.EqualFold(v[:7], "Bearer ") {
				secret = strings.TrimSpace(v[7:])
			}
		}
		if secret == "" {
			writeError(c, h.Logger, domain.Errorf(errUnauthenticated, "send an X-API-Key header"))
			return
		}
		key, err := h.Tenancy.APIKeyBySecret(c.Request.Context(), secret)
		if err != nil {
			writeError(c, h.Logger, err)
			return
		}
		inst, err := h.Tenancy.InstanceByAlias(c.Request.Context(), c.Param("alias"))
		if err != nil {
			writeError(c, h.Logger, err)
			return
		}
		if inst.OwnerID != key.OwnerID {
			writeError(c, h.Logger, domain.ErrInstanceNotFound)
			return
		}
		if !key.HasScope(scope) {
			writeError(c, h.Logger, domain.Errorf(errMissingScope, "this endpoint needs the %s scope", scope))
			return
		}
		if !h.limit(c, "key:"+key.ID) {
			return
		}
		c.Set(ctxInstance, inst)
		c.Set(ctxActor, domain.Actor{Kind: domain.ActorAPIKey, ID: key.ID})
		c.Next()
	}
}

func instanceOf(c *gin.Context) domain.Instance {
	inst, _ := c.Get(ctxInstance)
	return inst.(domain.Instance)
}

func actorOf(c *gin.Context) domain.Actor {
	a, _ := c.Get(ctxActor)
	return a.(domain.Actor)
}

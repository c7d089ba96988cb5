package httpapi

import (
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/socialops/socialops/adapters/postgres"
	"github.com/socialops/socialops/adapters/realtime"
	"github.com/socialops/socialops/domain"
)

// errRealtimeDisabled answers the WebSocket routes of a server without a hub.
var errRealtimeDisabled = &domain.Error{Code: "service_unavailable", Message: "realtime pushes are not enabled on this server"}

func (h *handlers) registerRealtime(api *gin.RouterGroup) {
	api.GET("/ws/cs/:csId", h.websocket(realtime.ProtocolCS))
	api.GET("/ws", h.websocket(realtime.ProtocolEvents))
}

// websocket authenticates an upgrade (a console JWT with service:read or an
// API key with socialops:read, as ?token= or Authorization: Bearer), checks
// csId and since, then hands the connection to the hub.
func (h *handlers) websocket(protocol string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if h.Hub == nil {
			writeError(c, h.Logger, errRealtimeDisabled)
			return
		}
		inst, ok := h.realtimeAuth(c)
		if !ok {
			return
		}
		cl := realtime.Client{Instance: inst, Protocol: protocol}
		if protocol == realtime.ProtocolCS {
			id, err := strconv.ParseInt(c.Param("csId"), 10, 64)
			if err != nil || id <= 0 {
				writeError(c, h.Logger, domain.Errorf(domain.ErrOperatorNotFound, "csId must be an operator id of this instance"))
				return
			}
			roster, err := h.Commands.Roster(c.Request.Context(), inst.ID)
			if err != nil {
				writeError(c, h.Logger, err)
				return
			}
			if op, ok := roster.Operator(id); !ok || op.Status == domain.OperatorDeleted {
				writeError(c, h.Logger, domain.Errorf(domain.ErrOperatorNotFound, "no operator %d in this instance", id))
				return
			}
			if bound, isBound := boundOperatorOf(c); isBound && bound != id {
				writeError(c, h.Logger, domain.Errorf(errForbidden, "this credential acts for operator %d only", bound))
				return
			}
			cl.OperatorID = id
		}
		h.serveSocket(c, cl)
	}
}

// serveSocket reads ?since= (resume after that log position) and hands the
// authenticated connection to the hub.
func (h *handlers) serveSocket(c *gin.Context, cl realtime.Client) {
	if raw, ok := c.GetQuery("since"); ok {
		since, err := strconv.ParseUint(raw, 10, 64)
		if err != nil {
			writeError(c, h.Logger, domain.Errorf(errInvalidParameter, "since must be a log position (a non-negative integer)"))
			return
		}
		cl.Since, cl.Resume = since, true
	}
	h.Hub.Serve(c.Writer, c.Request, cl)
}

// realtimeAuth resolves the token: 401 without a valid one, 404 when the
// instance is not the token owner's, 403 without the read scope/permission.
func (h *handlers) realtimeAuth(c *gin.Context) (domain.Instance, bool) {
	token := c.Query("token")
	if token == "" {
		if v := c.GetHeader("Authorization"); len(v) > 7 && strings.EqualFold(v[:7], "Bearer ") {
			token = strings.TrimSpace(v[7:])
		}
	}
	if token == "" {
		unauthorized(c, h, domain.Errorf(errUnauthenticated, "send ?token= or an Authorization: Bearer header (a console token or an API key)"))
		return domain.Instance{}, false
	}
	ctx := c.Request.Context()
	if strings.Count(token, ".") != 2 || len(h.JWTSecret) == 0 {
		// An integration credential: the same policy as every API-key route
		// (instance, allowlist, scope, rate, operator binding).
		var key postgres.APIKey
		var err error
		if strings.HasPrefix(token, "sat_") {
			key, err = h.Tenancy.CredentialByAccessToken(ctx, token)
		} else {
			key, err = h.Tenancy.APIKeyBySecret(ctx, token)
		}
		if err != nil {
			writeError(c, h.Logger, err)
			return domain.Instance{}, false
		}
		if !h.admit(c, key, postgres.ScopeRead) {
			return domain.Instance{}, false
		}
		return instanceOf(c), true
	}
	claims, err := h.parseConsoleToken(token)
	if err != nil {
		unauthorized(c, h, err)
		return domain.Instance{}, false
	}
	owner, allowed, need := claims.Subject, hasPermission(claims.Permissions, PermissionRead), "the "+PermissionRead+" permission"
	inst, err := h.Tenancy.InstanceByAlias(ctx, c.Param("alias"))
	if err != nil {
		writeError(c, h.Logger, err)
		return domain.Instance{}, false
	}
	if inst.OwnerID != owner {
		writeError(c, h.Logger, domain.ErrInstanceNotFound)
		return domain.Instance{}, false
	}
	if !allowed {
		code := errMissingScope
		if strings.HasPrefix(need, "the service") {
			code = errMissingPermission
		}
		writeError(c, h.Logger, domain.Errorf(code, "the realtime endpoints need %s", need))
		return domain.Instance{}, false
	}
	return inst, true
}

package httpapi

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/socialops/socialops/adapters/http/cs"
	"github.com/socialops/socialops/adapters/http/operatorapi"
	"github.com/socialops/socialops/commands"
	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

// registerOperators mounts SocialOps' own operator routes (API key and
// console) and the seed faces 003 (sessions) and 004 (operators).
func (h *handlers) registerOperators(api, console *gin.RouterGroup, read, manage []gin.HandlerFunc) {
	api.GET("/operators", h.apiKeyAuth("socialops:read"), h.listOperators)
	api.POST("/operators", h.apiKeyAuth("socialops:write"), h.createOperator)
	api.GET("/operators/:operator_id", h.apiKeyAuth("socialops:read"), h.getOperator)
	api.PATCH("/operators/:operator_id", h.apiKeyAuth("socialops:write"), h.patchOperator)
	with := func(chain []gin.HandlerFunc, last gin.HandlerFunc) []gin.HandlerFunc {
		return append(append([]gin.HandlerFunc{}, chain...), last)
	}
	console.GET("/:alias/operators", with(read, h.listOperators)...)
	console.POST("/:alias/operators", with(manage, h.createOperator)...)
	console.GET("/:alias/operators/:operator_id", with(read, h.getOperator)...)
	console.PATCH("/:alias/operators/:operator_id", with(manage, h.patchOperator)...)

	fresh := operatorapi.FreshWithin(h.Reads, h.Head, h.ReadYourWritesWait)
	operatorapi.Register(api, operatorapi.Deps{
		Commands: h.Commands, Reads: h.Reads, Tenancy: h.Tenancy, Auth: h.apiKeyAuth,
		Instance: instanceOf, Context: h.commandContext, WriteError: func(c *gin.Context, err error) { writeError(c, h.Logger, err) },
		Fresh: fresh, MaxBody: h.MaxBodyBytes, Position: writePosition,
	})
	cs.Register(api, cs.Deps{
		Commands: h.Commands, Reads: h.Reads, Auth: h.apiKeyAuth, Instance: instanceOf, Context: h.commandContext,
		Fresh: fresh, MaxBody: consoleBodyLimit, Position: writePosition, BoundOperator: boundOperatorOf,
		Unexpected: func(c *gin.Context, err error) {
			h.Logger.Error("request failed", "path", c.FullPath(), "request_id", requestID(c), "error", err)
		},
	})
}

// consoleBodyLimit caps operator and session bodies.
const consoleBodyLimit = 64 << 10

// errNoOperator is an operator id that is not an integer.
var errNoOperator = domain.Errorf(domain.ErrOperatorNotFound, "operator ids are positive integers")

func operatorIDParam(c *gin.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("operator_id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, errNoOperator
	}
	return id, nil
}

func operatorJSON(o domain.Operator, at time.Time) projections.OperatorView {
	return projections.OperatorView{ID: o.ID, Name: o.Name, Status: o.Status, Capacity: o.Capacity, Presence: o.Presence,
		OpenSessions: o.Load, CreatedAt: at, UpdatedAt: at}
}

// listOperators serves GET …/operators (filters status, presence).
func (h *handlers) listOperators(c *gin.Context) {
	f := projections.OperatorFilter{InstanceID: instanceOf(c).ID}
	if v, set := c.GetQuery("status"); set {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 2 {
			writeError(c, h.Logger, domain.Errorf(errInvalidParameter, "status must be 0, 1 or 2"))
			return
		}
		f.Status = &n
	}
	if v, set := c.GetQuery("presence"); set {
		if v != domain.PresenceOnline && v != domain.PresenceAway && v != domain.PresenceOffline {
			writeError(c, h.Logger, domain.Errorf(errInvalidParameter, "presence must be one of %s", strings.Join(domain.Presences, ", ")))
			return
		}
		f.Presence = v
	}
	if !h.readYourWrites(c, projections.OperatorsProjector{}.Name()) {
		return
	}
	ops, err := projections.ListOperators(c.Request.Context(), h.Reads, f)
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	ok(c, http.StatusOK, gin.H{"operators": ops})
}

// getOperator serves GET …/operators/:operator_id.
func (h *handlers) getOperator(c *gin.Context) {
	id, err := operatorIDParam(c)
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	if !h.readYourWrites(c, projections.OperatorsProjector{}.Name()) {
		return
	}
	o, found, err := projections.GetOperator(c.Request.Context(), h.Reads, instanceOf(c).ID, id)
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	if !found {
		writeError(c, h.Logger, domain.Errorf(domain.ErrOperatorNotFound, "no operator %d", id))
		return
	}
	ok(c, http.StatusOK, gin.H{"operator": o})
}

type operatorBody struct {
	Name     *string `json:"name"`
	Status   *int    `json:"status"`
	Capacity *int    `json:"capacity"`
	Presence *string `json:"presence"`
}

// createOperator serves POST …/operators: a name taken by a live operator is 409.
func (h *handlers) createOperator(c *gin.Context) {
	var b operatorBody
	if err := decodeBody(c, consoleBodyLimit, &b); err != nil {
		writeError(c, h.Logger, err)
		return
	}
	if b.Name == nil {
		writeError(c, h.Logger, domain.Errorf(domain.ErrMissingField, "name is required"))
		return
	}
	if b.Status != nil || b.Presence != nil {
		writeError(c, h.Logger, domain.Errorf(domain.ErrInvalidField, "a new operator is active and offline; change status or presence with PATCH"))
		return
	}
	inst := instanceOf(c)
	res, err := h.Commands.CreateOperators(c.Request.Context(), commands.CreateOperators{Instance: inst,
		Items: []domain.NewOperator{{Name: *b.Name, Capacity: b.Capacity}}, Context: h.commandContext(c)})
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	writePosition(c, res.Position)
	ok(c, http.StatusCreated, gin.H{"operator": operatorJSON(res.Operators[0], h.Now().UTC())})
}

// patchOperator serves PATCH …/operators/:operator_id.
func (h *handlers) patchOperator(c *gin.Context) {
	id, err := operatorIDParam(c)
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	var b operatorBody
	if err := decodeBody(c, consoleBodyLimit, &b); err != nil {
		writeError(c, h.Logger, err)
		return
	}
	res, err := h.Commands.ChangeOperator(c.Request.Context(), commands.ChangeOperator{Instance: instanceOf(c), OperatorID: id,
		Changes: domain.OperatorChanges{Name: b.Name, Status: b.Status, Capacity: b.Capacity, Presence: b.Presence}, Context: h.commandContext(c)})
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	writePosition(c, res.Position)
	ok(c, http.StatusOK, gin.H{"operator": operatorJSON(res.Operator, h.Now().UTC())})
}

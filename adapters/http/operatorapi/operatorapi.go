// Package operatorapi is the seed-004 operators face, mounted verbatim under
// the instance base URL /v1/apps/socialops/:alias: GET /api/operator,
// POST /api/operator/synchronize and POST /api/operator/status, with the
// seed's bare JSON arrays, integer ids and statuses 0/1/2. It parses, calls a
// command or a query and shapes the answer; no rule lives here. Errors use
// SocialOps' own error envelope (the seed defines none).
package operatorapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/socialops/socialops/adapters/postgres"
	"github.com/socialops/socialops/commands"
	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

// Deps are what the face needs from the shared router.
type Deps struct {
	Commands *commands.Service
	Reads    projections.Querier
	Tenancy  *postgres.Tenancy
	// Auth guards a route with an API key carrying scope.
	Auth func(scope string) gin.HandlerFunc
	// Instance and Context read what Auth stored.
	Instance   func(*gin.Context) domain.Instance
	Context    func(*gin.Context) commands.Context
	WriteError func(*gin.Context, error)
	// Fresh waits (bounded) until the named projectors reached the log head,
	// so a list right after a change shows it.
	Fresh    func(ctx context.Context, projectors ...string) error
	MaxBody  int64
	Position func(*gin.Context, uint64)
}

// Errors of the face.
var (
	ErrOrganizationNotFound = &domain.Error{Code: "organization_not_found", Message: "no such organization"}
)

// Register mounts the routes on the instance group.
func Register(g *gin.RouterGroup, d Deps) {
	g.GET("/api/operator", d.Auth(postgres.ScopeRead), d.list)
	g.POST("/api/operator/synchronize", d.Auth(postgres.ScopeWrite), d.synchronize)
	g.POST("/api/operator/status", d.Auth(postgres.ScopeWrite), d.status)
}

type organization struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

type operatorView struct {
	ID           int64         `json:"id"`
	Name         string        `json:"name"`
	Status       int           `json:"status"`
	Organization *organization `json:"organization,omitempty"`
}

func (d Deps) list(c *gin.Context) {
	inst := d.Instance(c)
	raw, set := c.GetQuery("organizationId")
	org, err := strconv.ParseInt(raw, 10, 64)
	if !set || err != nil {
		d.WriteError(c, domain.Errorf(domain.ErrInvalidField, "organizationId must be the instance's integer organization id"))
		return
	}
	settings, err := d.Tenancy.Settings(c.Request.Context(), inst.ID)
	if err != nil {
		d.WriteError(c, err)
		return
	}
	if org != settings.OrganizationID {
		d.WriteError(c, domain.Errorf(ErrOrganizationNotFound, "no organization %d on this instance", org))
		return
	}
	if err := d.Fresh(c.Request.Context(), projections.OperatorsProjector{}.Name()); err != nil {
		d.WriteError(c, err)
		return
	}
	ops, err := projections.ListOperators(c.Request.Context(), d.Reads, projections.OperatorFilter{InstanceID: inst.ID})
	if err != nil {
		d.WriteError(c, err)
		return
	}
	out := make([]operatorView, 0, len(ops))
	for _, o := range ops {
		out = append(out, operatorView{ID: o.ID, Name: o.Name, Status: o.Status,
			Organization: &organization{ID: settings.OrganizationID, Name: settings.Name}})
	}
	c.JSON(http.StatusOK, out)
}

type syncItem struct {
	OrganizationID *int64  `json:"organizationId"`
	Name           *string `json:"name"`
}

func (d Deps) synchronize(c *gin.Context) {
	inst := d.Instance(c)
	var items []syncItem
	if err := decode(c, d.MaxBody, &items); err != nil {
		d.WriteError(c, err)
		return
	}
	if items == nil {
		d.WriteError(c, domain.Errorf(domain.ErrInvalidPayload, "the body must be a JSON array of operators"))
		return
	}
	if len(items) == 0 || len(items) > domain.MaxSynchronizeItems {
		d.WriteError(c, domain.Errorf(domain.ErrInvalidField, "send 1 to %d operators per call; got %d", domain.MaxSynchronizeItems, len(items)))
		return
	}
	settings, err := d.Tenancy.Settings(c.Request.Context(), inst.ID)
	if err != nil {
		d.WriteError(c, err)
		return
	}
	news := make([]domain.NewOperator, len(items))
	for i, it := range items {
		if it.OrganizationID == nil {
			d.WriteError(c, domain.Errorf(domain.ErrInvalidField, "item %d: organizationId is required", i))
			return
		}
		if *it.OrganizationID != settings.OrganizationID {
			d.WriteError(c, domain.Errorf(domain.ErrInvalidField, "item %d: organizationId %d is not this instance's organization (%d)", i, *it.OrganizationID, settings.OrganizationID))
			return
		}
		if it.Name == nil {
			d.WriteError(c, domain.Errorf(domain.ErrInvalidField, "item %d: name is required", i))
			return
		}
		news[i] = domain.NewOperator{Name: *it.Name}
	}
	res, err := d.Commands.CreateOperators(c.Request.Context(), commands.CreateOperators{Instance: inst, Items: news, Dedupe: true, Context: d.Context(c)})
	if err != nil {
		d.WriteError(c, err)
		return
	}
	d.Position(c, res.Position)
	out := make([]operatorView, 0, len(res.Operators))
	for _, o := range res.Operators {
		out = append(out, operatorView{ID: o.ID, Name: o.Name, Status: o.Status})
	}
	c.JSON(http.StatusOK, out)
}

type statusBody struct {
	ID     *int64 `json:"id"`
	Status *int   `json:"status"`
}

func (d Deps) status(c *gin.Context) {
	var b statusBody
	if err := decode(c, d.MaxBody, &b); err != nil {
		d.WriteError(c, err)
		return
	}
	if b.ID == nil || b.Status == nil {
		d.WriteError(c, domain.Errorf(domain.ErrInvalidField, "id and status are required"))
		return
	}
	res, err := d.Commands.ChangeOperator(c.Request.Context(), commands.ChangeOperator{Instance: d.Instance(c), OperatorID: *b.ID,
		Changes: domain.OperatorChanges{Status: b.Status}, Context: d.Context(c)})
	if err != nil {
		d.WriteError(c, err)
		return
	}
	d.Position(c, res.Position)
	c.Status(http.StatusOK)
}

// decode reads a JSON body (a value of v's shape), refusing unknown fields.
func decode(c *gin.Context, limit int64, v any) error {
	body, err := io.ReadAll(io.LimitReader(c.Request.Body, limit+1))
	if err != nil {
		return domain.Errorf(domain.ErrInvalidPayload, "the body could not be read")
	}
	if int64(len(body)) > limit {
		return &domain.Error{Code: "payload_too_large", Message: fmt.Sprintf("the body is larger than %d bytes", limit)}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return domain.Errorf(domain.ErrInvalidPayload, "the body is not valid JSON of the expected shape: %v", err)
	}
	if dec.More() {
		return domain.Errorf(domain.ErrInvalidPayload, "the body holds more than one JSON value")
	}
	return nil
}

// FreshWithin builds Deps.Fresh from the log head and a wait bound.
func FreshWithin(q projections.Querier, head func(context.Context) (uint64, error), wait time.Duration) func(context.Context, ...string) error {
	return func(ctx context.Context, projectors ...string) error {
		if head == nil {
			return nil
		}
		pos, err := head(ctx)
		if err != nil {
			return err
		}
		_, err = projections.WaitForPosition(ctx, q, projectors, pos, wait)
		return err
	}
}

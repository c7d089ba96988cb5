// Package integration is the REST face of seed 002 §1.2 (集成接口: 客服管理,
// 会话管理, 消息管理), mounted verbatim under the instance base URL
// /v1/apps/socialops/:alias: /api/v1/agents, /api/v1/conversations and
// /api/v1/messages. An agent is an operator, a conversation a thread with
// its session, a visitor a contact. Field names follow the seed's style
// (agent_id, conversation_id, visitor_id, message_id, content, timestamp);
// answers and errors use SocialOps' envelope. Every credential of the API
// works here, with its scopes, instance and operator binding.
package integration

import (
	"context"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/socialops/socialops/adapters/postgres"
	"github.com/socialops/socialops/commands"
	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

// MessageChanger edits and retracts outbound messages where they went (the
// delivery process manager, which knows that).
type MessageChanger interface {
	ChangeMessage(ctx context.Context, cmd commands.ChangeMessage) (commands.MessageChangeResult, error)
}

// Deps are what the face needs from the shared router.
type Deps struct {
	Commands *commands.Service
	Messages MessageChanger
	Reads    projections.Querier
	Auth     func(scope string) gin.HandlerFunc
	Instance func(*gin.Context) domain.Instance
	Context  func(*gin.Context) commands.Context
	// Decode reads a JSON object body (unknown fields refused) within limit.
	Decode     func(c *gin.Context, limit int64, v any) error
	WriteError func(*gin.Context, error)
	Position   func(*gin.Context, uint64)
	// ReadYourWrites waits (bounded) for X-SocialOps-Position; false when it answered.
	ReadYourWrites func(c *gin.Context, projectors ...string) bool
	// BoundOperator is the operator the credential is bound to, if any.
	BoundOperator func(*gin.Context) (int64, bool)
}

// maxBody caps every body of this face.
const maxBody = 64 << 10

// Errors of this face.
var errNoAgent = &domain.Error{Code: "operator_not_found", Message: "an agent id is a positive integer"}

// Register mounts the routes on the instance group.
func Register(g *gin.RouterGroup, d Deps) {
	read, write := d.Auth(postgres.ScopeRead), d.Auth(postgres.ScopeWrite)
	g.POST("/api/v1/agents", write, d.createAgent)
	g.GET("/api/v1/agents/:id", read, d.getAgent)
	g.PUT("/api/v1/agents/:id", write, d.updateAgent)
	g.DELETE("/api/v1/agents/:id", write, d.deleteAgent)
	g.POST("/api/v1/conversations", write, d.createConversation)
	g.GET("/api/v1/conversations/:id", read, d.getConversation)
	g.PUT("/api/v1/conversations/:id", write, d.updateConversation)
	g.DELETE("/api/v1/conversations/:id", write, d.endConversation)
	g.POST("/api/v1/messages", write, d.createMessage)
	g.GET("/api/v1/messages/:id", read, d.getMessage)
	g.PUT("/api/v1/messages/:id", write, d.editMessage)
	g.DELETE("/api/v1/messages/:id", write, d.retractMessage)
	d.registerCRM(g)
	reports := ReportReader{Reads: d.Reads, Instance: d.Instance, ReadYourWrites: d.ReadYourWrites, WriteError: d.WriteError}
	g.GET("/api/v1/statistics/report", read, reports.Serve)
	g.POST("/api/v1/statistics/push", write, d.pushStatistics)
}

func ok(c *gin.Context, status int, data any) {
	c.JSON(status, gin.H{"success": true, "data": data})
}

// agent is an operator as seed 002 names it.
type agent struct {
	AgentID      int64  `json:"agent_id"`
	Name         string `json:"name"`
	Status       int    `json:"status"`
	Capacity     int    `json:"capacity"`
	Presence     string `json:"presence"`
	OpenSessions int    `json:"open_sessions"`
}

func agentOf(o domain.Operator) agent {
	return agent{AgentID: o.ID, Name: o.Name, Status: o.Status, Capacity: o.Capacity, Presence: o.Presence, OpenSessions: o.Load}
}

func agentID(c *gin.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, errNoAgent
	}
	return id, nil
}

type agentBody struct {
	Name     *string `json:"name"`
	Status   *int    `json:"status"`
	Capacity *int    `json:"capacity"`
}

// createAgent is POST /api/v1/agents {name, capacity}: a new operator,
// active and offline.
func (d Deps) createAgent(c *gin.Context) {
	var b agentBody
	if err := d.Decode(c, maxBody, &b); err != nil {
		d.WriteError(c, err)
		return
	}
	if b.Name == nil {
		d.WriteError(c, domain.Errorf(domain.ErrMissingField, "name is required"))
		return
	}
	if b.Status != nil {
		d.WriteError(c, domain.Errorf(domain.ErrInvalidField, "a new agent is active (status 0); change it with PUT"))
		return
	}
	res, err := d.Commands.CreateOperators(c.Request.Context(), commands.CreateOperators{Instance: d.Instance(c),
		Items: []domain.NewOperator{{Name: *b.Name, Capacity: b.Capacity}}, Context: d.Context(c)})
	if err != nil {
		d.WriteError(c, err)
		return
	}
	d.Position(c, res.Position)
	ok(c, http.StatusCreated, agentOf(res.Operators[0]))
}

// getAgent is GET /api/v1/agents/{id}, from the roster itself (never stale);
// a deleted agent is still shown, with status 2.
func (d Deps) getAgent(c *gin.Context) {
	id, err := agentID(c)
	if err != nil {
		d.WriteError(c, err)
		return
	}
	r, err := d.Commands.Roster(c.Request.Context(), d.Instance(c).ID)
	if err != nil {
		d.WriteError(c, err)
		return
	}
	o, found := r.Operator(id)
	if !found {
		d.WriteError(c, domain.Errorf(domain.ErrOperatorNotFound, "no agent %d", id))
		return
	}
	ok(c, http.StatusOK, agentOf(o))
}

// updateAgent is PUT /api/v1/agents/{id} {name, status, capacity}.
func (d Deps) updateAgent(c *gin.Context) {
	id, err := agentID(c)
	if err != nil {
		d.WriteError(c, err)
		return
	}
	var b agentBody
	if err := d.Decode(c, maxBody, &b); err != nil {
		d.WriteError(c, err)
		return
	}
	d.changeAgent(c, id, domain.OperatorChanges{Name: b.Name, Status: b.Status, Capacity: b.Capacity})
}

// deleteAgent is DELETE /api/v1/agents/{id}: status 2 (deleted); the agent
// stays readable and its history is kept, its sessions go back to the queue.
func (d Deps) deleteAgent(c *gin.Context) {
	id, err := agentID(c)
	if err != nil {
		d.WriteError(c, err)
		return
	}
	deleted := domain.OperatorDeleted
	d.changeAgent(c, id, domain.OperatorChanges{Status: &deleted})
}

func (d Deps) changeAgent(c *gin.Context, id int64, ch domain.OperatorChanges) {
	res, err := d.Commands.ChangeOperator(c.Request.Context(), commands.ChangeOperator{Instance: d.Instance(c), OperatorID: id,
		Changes: ch, Context: d.Context(c)})
	if err != nil {
		d.WriteError(c, err)
		return
	}
	d.Position(c, res.Position)
	ok(c, http.StatusOK, agentOf(res.Operator))
}

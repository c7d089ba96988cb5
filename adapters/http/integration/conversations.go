package integration

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/socialops/socialops/commands"
	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

// conversationProjectors are what a conversation read needs fresh.
var conversationProjectors = []string{projections.SessionsProjector{}.Name(), projections.InboxProjector{}.Name()}

// visible answers 404 (and false) unless the conversation is the
// instance's and, for a credential bound to an operator, that operator's.
func (d Deps) visible(c *gin.Context, threadID string) bool {
	inst := d.Instance(c)
	if !strings.HasPrefix(threadID, domain.PrefixThread) {
		d.WriteError(c, domain.Errorf(domain.ErrThreadNotFound, "no conversation %q", threadID))
		return false
	}
	if op, bound := d.BoundOperator(c); bound {
		holder, err := projections.SessionOperator(c.Request.Context(), d.Reads, inst.ID, threadID)
		if err != nil {
			d.WriteError(c, err)
			return false
		}
		if holder != op {
			d.WriteError(c, domain.Errorf(domain.ErrThreadNotFound, "no conversation %q", threadID))
			return false
		}
	}
	return true
}

// conversation answers the conversation as the read model has it.
func (d Deps) conversation(c *gin.Context, status int, threadID string) {
	v, found, err := projections.GetConversation(c.Request.Context(), d.Reads, d.Instance(c).ID, threadID)
	if err != nil {
		d.WriteError(c, err)
		return
	}
	if !found {
		d.WriteError(c, domain.Errorf(domain.ErrThreadNotFound, "no conversation %q", threadID))
		return
	}
	ok(c, status, v)
}

type createConversationBody struct {
	AgentID   *int64  `json:"agent_id"`
	VisitorID *string `json:"visitor_id"`
	ChannelID *string `json:"channel_id"`
	Content   *string `json:"content"`
	Subject   string  `json:"subject"`
}

// createConversation is POST /api/v1/conversations: an agent starts a
// conversation with a known contact (visitor_id: the chat of their latest
// conversation) or on a bound channel (channel_id: its chat), with an
// outbound first message (content), delivered and billed like every reply.
func (d Deps) createConversation(c *gin.Context) {
	var b createConversationBody
	if err := d.Decode(c, maxBody, &b); err != nil {
		d.WriteError(c, err)
		return
	}
	switch {
	case b.AgentID == nil:
		d.WriteError(c, domain.Errorf(domain.ErrMissingField, "agent_id is required"))
		return
	case b.Content == nil:
		d.WriteError(c, domain.Errorf(domain.ErrMissingField, "content is required: the conversation's first message"))
		return
	case (b.VisitorID == nil) == (b.ChannelID == nil):
		d.WriteError(c, domain.Errorf(domain.ErrMissingField, "give exactly one of visitor_id (a known contact) and channel_id (a bound channel)"))
		return
	}
	if op, bound := d.BoundOperator(c); bound && op != *b.AgentID {
		d.WriteError(c, domain.Errorf(domain.ErrOperatorNotAssignable, "this credential acts for agent %d only", op))
		return
	}
	ctx := c.Request.Context()
	inst := d.Instance(c)
	var target commands.ConversationTarget
	var err error
	if b.ChannelID != nil {
		target, err = d.Commands.ChannelTarget(ctx, inst.ID, *b.ChannelID)
	} else {
		if !d.ReadYourWrites(c, conversationProjectors...) {
			return
		}
		threadID, found, ferr := projections.LatestThreadOfContact(ctx, d.Reads, inst.ID, *b.VisitorID)
		switch {
		case ferr != nil:
			err = ferr
		case !found:
			err = domain.Errorf(domain.ErrContactNotFound, "no contact %q has written to this instance", *b.VisitorID)
		default:
			target, err = d.Commands.ThreadTarget(ctx, inst.ID, threadID)
		}
	}
	if err != nil {
		d.WriteError(c, err)
		return
	}
	res, err := d.Commands.StartConversation(ctx, commands.StartConversation{Instance: inst, Provider: target.Provider,
		ExternalThreadID: target.ExternalThreadID, ContactID: target.ContactID, Subject: b.Subject,
		OperatorID: *b.AgentID, Text: *b.Content, Context: d.Context(c)})
	if err != nil {
		d.WriteError(c, err)
		return
	}
	d.Position(c, res.Position)
	ok(c, http.StatusCreated, gin.H{"conversation_id": res.ThreadID, "visitor_id": target.ContactID,
		"agent_id": *b.AgentID, "channel": target.Provider, "status": domain.StateManual,
		"message": messageOfReply(res.Reply)})
}

// getConversation is GET /api/v1/conversations/{id}.
func (d Deps) getConversation(c *gin.Context) {
	id := c.Param("id")
	if !d.visible(c, id) || !d.ReadYourWrites(c, conversationProjectors...) {
		return
	}
	d.conversation(c, http.StatusOK, id)
}

type updateConversationBody struct {
	Status   *string `json:"status"`
	Priority *string `json:"priority"`
	// AgentID is an agent id, or null to put the conversation back in the queue.
	AgentID json.RawMessage `json:"agent_id"`
}

// updateConversation is PUT /api/v1/conversations/{id} {status, priority,
// agent_id}: the thread's status (open, pending, resolved, archived; resolving
// or archiving ends the session), its priority, and who has it (null: back
// to the queue).
func (d Deps) updateConversation(c *gin.Context) {
	id := c.Param("id")
	var b updateConversationBody
	if err := d.Decode(c, maxBody, &b); err != nil {
		d.WriteError(c, err)
		return
	}
	ch := domain.ThreadChanges{Status: b.Status, Priority: b.Priority}
	if b.AgentID != nil {
		a := ""
		if string(b.AgentID) != "null" {
			agent, err := strconv.ParseInt(string(b.AgentID), 10, 64)
			if err != nil || agent <= 0 {
				d.WriteError(c, domain.Errorf(domain.ErrInvalidField, "agent_id is a positive agent id, or null to unassign"))
				return
			}
			if op, bound := d.BoundOperator(c); bound && op != agent {
				d.WriteError(c, domain.Errorf(domain.ErrOperatorNotAssignable, "this credential acts for agent %d only", op))
				return
			}
			a = strconv.FormatInt(agent, 10)
		}
		ch.Assignee = &a
	}
	if !d.visible(c, id) {
		return
	}
	res, err := d.Commands.UpdateThread(c.Request.Context(), commands.UpdateThread{InstanceID: d.Instance(c).ID, ThreadID: id,
		Changes: ch, Context: d.Context(c)})
	d.answerAfter(c, id, res.Position, err)
}

// endConversation is DELETE /api/v1/conversations/{id}: the session closes
// and the thread is resolved; the history is kept. Ending an ended
// conversation answers the same.
func (d Deps) endConversation(c *gin.Context) {
	id := c.Param("id")
	if !d.visible(c, id) {
		return
	}
	res, err := d.Commands.CloseSession(c.Request.Context(), commands.CloseSession{Instance: d.Instance(c), ThreadID: id, Context: d.Context(c)})
	d.answerAfter(c, id, res.Position, err)
}

// answerAfter answers a command on a conversation: its error, or the
// conversation as it is after the command (the read waits for its write).
func (d Deps) answerAfter(c *gin.Context, id string, pos uint64, err error) {
	if err != nil {
		d.WriteError(c, err)
		return
	}
	d.Position(c, pos)
	if pos > 0 {
		c.Request.Header.Set("X-SocialOps-Position", strconv.FormatUint(pos, 10))
		if !d.ReadYourWrites(c, conversationProjectors...) {
			return
		}
	}
	d.conversation(c, http.StatusOK, id)
}

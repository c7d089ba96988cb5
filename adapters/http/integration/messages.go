package integration

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/socialops/socialops/commands"
	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

// message is a message as seed 002 names it.
type message struct {
	MessageID      string     `json:"message_id"`
	ConversationID string     `json:"conversation_id"`
	Direction      string     `json:"direction"`
	Content        string     `json:"content"`
	Sender         string     `json:"sender"`
	Timestamp      int64      `json:"timestamp"`
	DeliveryStatus *string    `json:"delivery_status"`
	FailureReason  *string    `json:"failure_reason,omitempty"`
	EditedAt       *time.Time `json:"edited_at"`
	Retracted      bool       `json:"retracted"`
}

func messageOf(m projections.MessageView) message {
	return message{MessageID: m.MessageID, ConversationID: m.ThreadID, Direction: m.Direction, Content: m.Text,
		Sender: m.SenderName, Timestamp: m.CreatedAt.Unix(), DeliveryStatus: m.DeliveryStatus, FailureReason: m.FailureReason,
		EditedAt: m.EditedAt, Retracted: m.RetractedAt != nil}
}

func messageOfReply(r domain.ReplyQueued) message {
	pending := domain.ActionPending
	return message{MessageID: r.MessageID, ConversationID: r.ThreadID, Direction: projections.DirectionOutbound,
		Content: r.Text, Sender: r.AuthorID, Timestamp: time.Now().Unix(), DeliveryStatus: &pending}
}

var messageProjectors = []string{projections.MessagesProjector{}.Name()}

type sendBody struct {
	ConversationID *string `json:"conversation_id"`
	Content        *string `json:"content"`
}

// createMessage is POST /api/v1/messages {conversation_id, content}: a
// reply, delivered and billed like every reply.
func (d Deps) createMessage(c *gin.Context) {
	var b sendBody
	if err := d.Decode(c, maxBody, &b); err != nil {
		d.WriteError(c, err)
		return
	}
	switch {
	case b.ConversationID == nil:
		d.WriteError(c, domain.Errorf(domain.ErrMissingField, "conversation_id is required"))
		return
	case b.Content == nil:
		d.WriteError(c, domain.Errorf(domain.ErrMissingField, "content is required"))
		return
	}
	if !d.visible(c, *b.ConversationID) {
		return
	}
	res, err := d.Commands.QueueReply(c.Request.Context(), commands.QueueReply{InstanceID: d.Instance(c).ID,
		ThreadID: *b.ConversationID, Text: *b.Content, Context: d.Context(c)})
	if err != nil {
		d.WriteError(c, err)
		return
	}
	d.Position(c, res.Position)
	ok(c, http.StatusCreated, messageOfReply(res.Reply))
}

// ownMessage reads a message of the instance (and, for a bound credential,
// of its operator's conversations); false when it answered.
func (d Deps) ownMessage(c *gin.Context) (projections.MessageView, bool) {
	id := c.Param("id")
	if !strings.HasPrefix(id, domain.PrefixMessage) {
		d.WriteError(c, domain.Errorf(domain.ErrMessageNotFound, "no message %q", id))
		return projections.MessageView{}, false
	}
	if !d.ReadYourWrites(c, messageProjectors...) {
		return projections.MessageView{}, false
	}
	m, found, err := projections.GetMessage(c.Request.Context(), d.Reads, d.Instance(c).ID, id)
	if err != nil {
		d.WriteError(c, err)
		return projections.MessageView{}, false
	}
	if !found {
		d.WriteError(c, domain.Errorf(domain.ErrMessageNotFound, "no message %q", id))
		return projections.MessageView{}, false
	}
	if _, bound := d.BoundOperator(c); bound && !d.visible(c, m.ThreadID) {
		return projections.MessageView{}, false
	}
	return m, true
}

// getMessage is GET /api/v1/messages/{id}; a retracted message shows
// without its text (the audit history keeps it).
func (d Deps) getMessage(c *gin.Context) {
	m, found := d.ownMessage(c)
	if !found {
		return
	}
	ok(c, http.StatusOK, messageOf(m))
}

type editBody struct {
	Content *string `json:"content"`
}

// editMessage is PUT /api/v1/messages/{id} {content}: a MessageEdited
// event; a delivered Telegram message is edited there too (editMessageText).
// The answer says whether and how the edit reached the provider.
func (d Deps) editMessage(c *gin.Context) {
	var b editBody
	if err := d.Decode(c, maxBody, &b); err != nil {
		d.WriteError(c, err)
		return
	}
	if b.Content == nil {
		d.WriteError(c, domain.Errorf(domain.ErrMissingField, "content is required"))
		return
	}
	d.change(c, b.Content)
}

// retractMessage is DELETE /api/v1/messages/{id}: a MessageRetracted event;
// a delivered Telegram message is deleted there too (deleteMessage), one not
// yet sent is never sent.
func (d Deps) retractMessage(c *gin.Context) {
	d.change(c, nil)
}

func (d Deps) change(c *gin.Context, text *string) {
	m, found := d.ownMessage(c)
	if !found {
		return
	}
	if m.Direction != projections.DirectionOutbound {
		d.WriteError(c, domain.Errorf(domain.ErrMessageNotEditable, "message %s is %s; only outbound messages change", m.MessageID, m.Direction))
		return
	}
	res, err := d.Messages.ChangeMessage(c.Request.Context(), commands.ChangeMessage{Instance: d.Instance(c), ThreadID: m.ThreadID,
		MessageID: m.MessageID, Text: text, Context: d.Context(c)})
	if err != nil {
		d.WriteError(c, err)
		return
	}
	d.Position(c, res.Position)
	if res.Position > 0 {
		c.Request.Header.Set("X-SocialOps-Position", itoa(res.Position))
	}
	after, found := d.ownMessage(c)
	if !found {
		return
	}
	ok(c, http.StatusOK, gin.H{"message": messageOf(after), "propagated": res.Propagation == domain.PropagatedToProvider ||
		res.Propagation == domain.PropagatedBeforeSend, "propagation": res.Propagation, "reason": res.Reason})
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// Package cs is the seed-003 multi-channel customer-service face, mounted
// verbatim under the instance base URL /v1/apps/socialops/:alias: the
// /api/sessions… routes, with the seed's {code, message, data} envelope,
// field names, messages and statuses. A session is a thread (sessionId is
// the thread id), a csId an operator id, a customerId a contact id. It
// parses, calls a command or a query and shapes the answer; no rule lives
// here. Authentication failures keep SocialOps' error envelope (the seed's
// document defines no 401/403).
package cs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
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
	Auth     func(scope string) gin.HandlerFunc
	Instance func(*gin.Context) domain.Instance
	Context  func(*gin.Context) commands.Context
	// Fresh waits (bounded) until the named projectors reached the log head.
	Fresh func(ctx context.Context, projectors ...string) error
	// Unexpected logs an error that is not the caller's fault.
	Unexpected func(*gin.Context, error)
	Position   func(*gin.Context, uint64)
	MaxBody    int64
	// BoundOperator is the operator the request's credential is bound to, if
	// any: its list shows only that operator's sessions.
	BoundOperator func(*gin.Context) (int64, bool)
}

// The seed's messages.
const (
	msgSuccess       = "success"
	msgWrongStatus   = "会话状态不正确"
	msgMissingCsID   = "客服ID不能为空"
	msgMissingText   = "消息内容不能为空"
	msgNotFound      = "会话不存在"
	msgBadRequest    = "请求参数错误"
	msgInternal      = "服务器内部错误"
	msgUnknownCsID   = "客服不存在或不可用"
	msgCsFull        = "客服接待已达上限"
	maxSessionIDLen  = 64
	maxContentRunes  = 4096
	historyPageLimit = 100
)

// Register mounts the routes on the instance group.
func Register(g *gin.RouterGroup, d Deps) {
	g.GET("/api/sessions", d.Auth(postgres.ScopeRead), d.list)
	g.GET("/api/sessions/:sessionId", d.Auth(postgres.ScopeRead), d.get)
	g.GET("/api/sessions/:sessionId/history", d.Auth(postgres.ScopeRead), d.history)
	g.POST("/api/sessions/:sessionId/accept", d.Auth(postgres.ScopeWrite), d.accept)
	g.POST("/api/sessions/:sessionId/message", d.Auth(postgres.ScopeWrite), d.message)
	g.POST("/api/sessions/:sessionId/close", d.Auth(postgres.ScopeWrite), d.close)
}

type envelope struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

func okData(c *gin.Context, data any) {
	c.JSON(http.StatusOK, envelope{Code: 0, Message: msgSuccess, Data: data})
}

func fail(c *gin.Context, status int, msg string) {
	c.AbortWithStatusJSON(status, envelope{Code: status, Message: msg})
}

// failWith maps a command's error to the seed's answer.
func (d Deps) failWith(c *gin.Context, err error) {
	var de *domain.Error
	switch {
	case errors.Is(err, domain.ErrSessionWrongStatus):
		fail(c, http.StatusBadRequest, msgWrongStatus)
	case errors.Is(err, domain.ErrThreadNotFound):
		fail(c, http.StatusNotFound, msgNotFound)
	case errors.Is(err, domain.ErrOperatorAtCapacity):
		fail(c, http.StatusBadRequest, msgCsFull)
	case errors.Is(err, domain.ErrOperatorNotFound), errors.Is(err, domain.ErrOperatorNotAssignable):
		fail(c, http.StatusBadRequest, msgUnknownCsID)
	case errors.Is(err, domain.ErrMissingField) || errors.Is(err, domain.ErrInvalidField) || errors.Is(err, domain.ErrInvalidPayload):
		errors.As(err, &de)
		fail(c, http.StatusBadRequest, trimMessage(msgBadRequest+": "+de.Message))
	default:
		d.Unexpected(c, err)
		fail(c, http.StatusInternalServerError, msgInternal)
	}
}

func trimMessage(s string) string {
	r := []rune(s)
	if len(r) > 256 {
		return string(r[:255]) + "…"
	}
	return s
}

// SessionInfo is the seed's session.
type SessionInfo struct {
	SessionID       string         `json:"sessionId"`
	CustomerID      string         `json:"customerId"`
	KfID            string         `json:"kfId,omitempty"`
	ChannelType     string         `json:"channelType"`
	Status          string         `json:"status"`
	ManualCsID      string         `json:"manualCsId,omitempty"`
	LastMessage     string         `json:"lastMessage,omitempty"`
	LastMessageTime string         `json:"lastMessageTime"`
	MessageCount    int            `json:"messageCount"`
	CreatedAt       string         `json:"createdAt"`
	UpdatedAt       string         `json:"updatedAt"`
	Metadata        map[string]any `json:"metadata"`
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func sessionInfo(v projections.SessionView) SessionInfo {
	s := SessionInfo{
		SessionID: v.ThreadID, CustomerID: v.ContactID, ChannelType: v.Provider, Status: v.Status,
		LastMessage: v.LastMessage, LastMessageTime: stamp(v.LastMessageTime), MessageCount: v.MessageCount,
		CreatedAt: stamp(v.CreatedAt), UpdatedAt: stamp(v.UpdatedAt),
		Metadata: map[string]any{"subject": v.Subject, "customerName": v.ContactName},
	}
	if v.OperatorID != nil {
		s.ManualCsID = strconv.FormatInt(*v.OperatorID, 10)
	}
	return s
}

// MessageInfo is the seed's message.
type MessageInfo struct {
	MsgID      string `json:"msgId"`
	SessionID  string `json:"sessionId"`
	SenderType string `json:"senderType"`
	SenderID   string `json:"senderId,omitempty"`
	Content    string `json:"content"`
	MsgType    string `json:"msgType"`
	CreatedAt  string `json:"createdAt"`
}

// msgType maps SocialOps' message types to the seed's.
func msgType(t string) string {
	switch t {
	case domain.MessageText:
		return "text"
	case domain.MessagePhoto, domain.MessageSticker:
		return "image"
	case domain.MessageDocument, domain.MessageAudio, domain.MessageVoice, domain.MessageVideo:
		return "file"
	}
	return "event"
}

func messageInfo(sessionID string, m projections.SessionMessage) MessageInfo {
	content := m.Text
	if strings.TrimSpace(content) == "" {
		content = "[" + m.MessageType + "]"
	}
	sender := "customer"
	if m.Direction == projections.DirectionOutbound {
		sender = "manual"
	}
	return MessageInfo{MsgID: m.MessageID, SessionID: sessionID, SenderType: sender, SenderID: m.SenderID,
		Content: content, MsgType: msgType(m.MessageType), CreatedAt: stamp(m.CreatedAt)}
}

// sessionID reads the path parameter: 1 to 64 characters (the seed's rule).
func sessionID(c *gin.Context) (string, bool) {
	id := c.Param("sessionId")
	if id == "" || len(id) > maxSessionIDLen {
		fail(c, http.StatusBadRequest, msgBadRequest+": sessionId must be 1 to 64 characters")
		return "", false
	}
	return id, true
}

func (d Deps) fresh(c *gin.Context, projectors ...string) bool {
	if err := d.Fresh(c.Request.Context(), projectors...); err != nil {
		d.failWith(c, err)
		return false
	}
	return true
}

var sessionProjectors = []string{projections.SessionsProjector{}.Name(), projections.InboxProjector{}.Name()}

func (d Deps) list(c *gin.Context) {
	inst := d.Instance(c)
	f := projections.SessionFilter{InstanceID: inst.ID, Page: 1, Limit: projections.DefaultLimit}
	if v, set := c.GetQuery("status"); set {
		if !contains(domain.SessionStates, v) {
			fail(c, http.StatusBadRequest, msgBadRequest+": status must be one of ai, pending, manual, closed")
			return
		}
		f.Status = v
	}
	if v, set := c.GetQuery("csId"); set {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			fail(c, http.StatusBadRequest, msgBadRequest+": csId must be an operator id")
			return
		}
		f.OperatorID = &id
	}
	if d.BoundOperator != nil {
		if op, bound := d.BoundOperator(c); bound {
			if f.OperatorID != nil && *f.OperatorID != op {
				none := int64(-1) // another operator's sessions: none visible
				f.OperatorID = &none
			} else {
				f.OperatorID = &op
			}
		}
	}
	if v, set := c.GetQuery("channelType"); set {
		if !contains(ChannelTypes, v) {
			fail(c, http.StatusBadRequest, msgBadRequest+": channelType must be one of "+strings.Join(ChannelTypes, ", "))
			return
		}
		f.Provider = v
	}
	for _, p := range []struct {
		name string
		to   *int
		max  int
	}{{"page", &f.Page, projections.MaxPage}, {"limit", &f.Limit, projections.MaxLimit}} {
		if v, set := c.GetQuery(p.name); set {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > p.max {
				fail(c, http.StatusBadRequest, msgBadRequest+": "+p.name+" must be an integer from 1 to "+strconv.Itoa(p.max))
				return
			}
			*p.to = n
		}
	}
	if !d.fresh(c, sessionProjectors...) {
		return
	}
	views, err := projections.ListSessions(c.Request.Context(), d.Reads, f)
	if err != nil {
		d.failWith(c, err)
		return
	}
	out := make([]SessionInfo, 0, len(views))
	for _, v := range views {
		out = append(out, sessionInfo(v))
	}
	okData(c, out)
}

// ChannelTypes are the channelType values: SocialOps' provider names,
// WeCom's and the seed's wechat, douyin and jd (signed channel callbacks).
var ChannelTypes = []string{domain.ProviderGenericWebhook, domain.ProviderTelegram, domain.ProviderGitHub, "wecom", "wechat", "douyin", "jd"}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func (d Deps) session(c *gin.Context) (projections.SessionView, bool) {
	id, ok := sessionID(c)
	if !ok {
		return projections.SessionView{}, false
	}
	if !d.fresh(c, sessionProjectors...) {
		return projections.SessionView{}, false
	}
	v, found, err := projections.GetSession(c.Request.Context(), d.Reads, d.Instance(c).ID, id)
	if err != nil {
		d.failWith(c, err)
		return v, false
	}
	if !found {
		fail(c, http.StatusNotFound, msgNotFound)
		return v, false
	}
	return v, true
}

func (d Deps) get(c *gin.Context) {
	if v, ok := d.session(c); ok {
		okData(c, sessionInfo(v))
	}
}

func (d Deps) history(c *gin.Context) {
	v, ok := d.session(c)
	if !ok {
		return
	}
	if !d.fresh(c, projections.MessagesProjector{}.Name()) {
		return
	}
	msgs, err := projections.SessionHistory(c.Request.Context(), d.Reads, v.ThreadID, 1, 1000)
	if err != nil {
		d.failWith(c, err)
		return
	}
	out := make([]MessageInfo, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, messageInfo(v.ThreadID, m))
	}
	okData(c, out)
}

// decode reads a JSON object body; a malformed one answers the seed's 400.
func (d Deps) decode(c *gin.Context, v any) bool {
	body, err := io.ReadAll(io.LimitReader(c.Request.Body, d.MaxBody+1))
	if err != nil || int64(len(body)) > d.MaxBody {
		fail(c, http.StatusBadRequest, msgBadRequest+": the body is missing or too large")
		return false
	}
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(v); err != nil {
		fail(c, http.StatusBadRequest, msgBadRequest+": the body must be a JSON object")
		return false
	}
	return true
}

func (d Deps) accept(c *gin.Context) {
	id, ok := sessionID(c)
	if !ok {
		return
	}
	var body struct {
		CsID *string `json:"csId"`
	}
	if !d.decode(c, &body) {
		return
	}
	if body.CsID == nil || strings.TrimSpace(*body.CsID) == "" {
		fail(c, http.StatusBadRequest, msgMissingCsID)
		return
	}
	op, err := strconv.ParseInt(strings.TrimSpace(*body.CsID), 10, 64)
	if err != nil || op <= 0 {
		fail(c, http.StatusBadRequest, msgUnknownCsID)
		return
	}
	res, err := d.Commands.AcceptSession(c.Request.Context(), commands.AcceptSession{Instance: d.Instance(c), ThreadID: id, OperatorID: op, Context: d.Context(c)})
	if err != nil {
		d.failWith(c, err)
		return
	}
	d.Position(c, res.Position)
	c.JSON(http.StatusOK, envelope{Code: 0, Message: msgSuccess})
}

func (d Deps) message(c *gin.Context) {
	id, ok := sessionID(c)
	if !ok {
		return
	}
	var body struct {
		Content *string `json:"content"`
		MsgType *string `json:"msgType"`
	}
	if !d.decode(c, &body) {
		return
	}
	if body.Content == nil || strings.TrimSpace(*body.Content) == "" {
		fail(c, http.StatusBadRequest, msgMissingText)
		return
	}
	if body.MsgType != nil && *body.MsgType != "text" {
		fail(c, http.StatusBadRequest, msgBadRequest+": msgType must be text (image and file are not sent yet)")
		return
	}
	res, err := d.Commands.SendSessionMessage(c.Request.Context(), commands.SendSessionMessage{Instance: d.Instance(c), ThreadID: id, Text: *body.Content, Context: d.Context(c)})
	if err != nil {
		d.failWith(c, err)
		return
	}
	d.Position(c, res.Position)
	okData(c, map[string]any{"msgId": res.Reply.MessageID, "actionId": res.Reply.ActionID})
}

func (d Deps) close(c *gin.Context) {
	id, ok := sessionID(c)
	if !ok {
		return
	}
	res, err := d.Commands.CloseSession(c.Request.Context(), commands.CloseSession{Instance: d.Instance(c), ThreadID: id, Context: d.Context(c)})
	if err != nil {
		d.failWith(c, err)
		return
	}
	d.Position(c, res.Position)
	c.JSON(http.StatusOK, envelope{Code: 0, Message: msgSuccess})
}

// Package botapi is the seed-001 bot face, mounted verbatim under the
// instance base URL /v1/apps/socialops/:alias: POST /api/dialog/msg/sendtext,
// authenticated by the headers version and token (the bot's), with the
// seed's parameters and its {"ret","msg","data"} envelope. A dialog is a
// thread; a bot's message is a reply whose author is the bot, so delivery,
// billing, retries, refunds and audit are those of every reply.
package botapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/socialops/socialops/adapters/bots"
	"github.com/socialops/socialops/adapters/telegram"
	"github.com/socialops/socialops/commands"
	"github.com/socialops/socialops/domain"
)

// MaxTextRunes bounds sendtext's text (seed 001 sets no limit; longer texts
// are split into several provider messages).
const MaxTextRunes = 200_000

// maxBody bounds the request: the text's worst case in UTF-8, form-encoded.
const maxBody = 3 << 20

// Deps are what the face needs from the shared router.
type Deps struct {
	Commands *commands.Service
	Bots     *bots.Store
	Instance func(ctx context.Context, alias string) (domain.Instance, error)
	// StatusOf is the HTTP status of an error code (the router's map).
	StatusOf   func(err error) (status int, code, message string)
	Unexpected func(*gin.Context, error)
}

// Register mounts the routes on the instance group.
func Register(g *gin.RouterGroup, d Deps) {
	g.POST("/api/dialog/msg/sendtext", d.sendText)
	g.POST("/api/dialog/handoff", d.handoff)
}

type answer struct {
	Ret  int    `json:"ret"`
	Msg  string `json:"msg"`
	Data any    `json:"data,omitempty"`
}

// fail answers the seed's error envelope with the error's status; the error
// code is kept for the access log.
func (d Deps) fail(c *gin.Context, err error) {
	status, code, msg := d.StatusOf(err)
	if status >= 500 {
		d.Unexpected(c, err)
	}
	c.Set("error_code", code)
	c.AbortWithStatusJSON(status, answer{Ret: 0, Msg: msg})
}

// sentMessage is what sendtext answers: the message as stored.
type sentMessage struct {
	MsgID      string   `json:"msg_id"`
	DialogID   string   `json:"dialog_id"`
	BotID      string   `json:"bot_id"`
	Text       string   `json:"text"`
	TextType   string   `json:"text_type"`
	Parts      int      `json:"parts"`
	MessageIDs []string `json:"message_ids"`
	Silence    bool     `json:"silence"`
	Replayed   bool     `json:"replayed"`
}

type params struct {
	DialogID string `json:"dialog_id"`
	Text     string `json:"text"`
	TextType string `json:"text_type"`
	Key      string `json:"key"`
	Silence  string `json:"silence"`
	ReplyID  string `json:"reply_id"`
	Reason   string `json:"reason"` // handoff only
}

var (
	errVersion = &domain.Error{Code: "missing_field", Message: "the version header is required"}
	errBotsOff = &domain.Error{Code: "service_unavailable", Message: "bots are not configured on this server"}
	errToken   = &domain.Error{Code: "invalid_bot_token", Message: "send the bot's token in the token header"}
)

// sendText is POST …/api/dialog/msg/sendtext.
func (d Deps) sendText(c *gin.Context) {
	bot, inst, ok := d.authenticate(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	p, err := readParams(c)
	if err != nil {
		d.fail(c, err)
		return
	}
	parts, err := p.check()
	if err != nil {
		d.fail(c, err)
		return
	}
	res, err := d.Commands.SendBotMessage(ctx, commands.SendBotMessage{Instance: inst, ThreadID: p.DialogID, BotID: bot.ID,
		Key: p.Key, Parts: parts, Silent: p.Silence == "yes", ReplyToMessage: p.ReplyID,
		Context: commands.Context{Actor: domain.Actor{Kind: domain.ActorAPIKey, ID: domain.BotAuthor(bot.ID)}}})
	if err != nil {
		d.fail(c, err)
		return
	}
	m := sentMessage{DialogID: p.DialogID, BotID: bot.ID, TextType: p.TextType, Parts: len(res.Replies),
		Silence: p.Silence == "yes", Replayed: res.Replayed}
	var text strings.Builder
	for _, r := range res.Replies {
		m.MessageIDs = append(m.MessageIDs, r.MessageID)
		text.WriteString(r.Text)
	}
	if len(m.MessageIDs) > 0 {
		m.MsgID = m.MessageIDs[0]
	}
	m.Text = text.String()
	if res.Position > 0 {
		c.Header("X-SocialOps-Position", itoa(res.Position))
	}
	c.JSON(http.StatusOK, answer{Ret: 1, Msg: "success", Data: m})
}

// authenticate checks the headers version and token: the bot of the URL's
// instance (a token of another instance's bot is refused like a wrong one).
func (d Deps) authenticate(c *gin.Context) (bots.Bot, domain.Instance, bool) {
	if d.Bots == nil {
		d.fail(c, errBotsOff)
		return bots.Bot{}, domain.Instance{}, false
	}
	version := strings.TrimSpace(c.GetHeader("version"))
	if version == "" {
		d.fail(c, errVersion)
		return bots.Bot{}, domain.Instance{}, false
	}
	token := c.GetHeader("token")
	if token == "" {
		d.fail(c, errToken)
		return bots.Bot{}, domain.Instance{}, false
	}
	ctx := c.Request.Context()
	bot, err := d.Bots.ByToken(ctx, token)
	if err != nil {
		d.fail(c, err)
		return bots.Bot{}, domain.Instance{}, false
	}
	inst, err := d.Instance(ctx, c.Param("alias"))
	if err == nil && inst.ID != bot.InstanceID {
		err = bots.ErrBadBotToken
	}
	if err != nil {
		d.fail(c, err)
		return bots.Bot{}, domain.Instance{}, false
	}
	// Pushes echo the version the bot speaks.
	if err := d.Bots.SetVersion(ctx, bot.ID, version); err != nil {
		d.Unexpected(c, err)
	}
	return bot, inst, true
}

// handoff is POST …/api/dialog/handoff {"dialog_id","reason"} (not in seed
// 001): the bot gives the session to people; routing assigns it. Asking
// again while it waits answers the same; a person's session is 409.
func (d Deps) handoff(c *gin.Context) {
	bot, inst, ok := d.authenticate(c)
	if !ok {
		return
	}
	p, err := readParams(c)
	if err == nil && !strings.HasPrefix(p.DialogID, domain.PrefixThread) {
		err = domain.Errorf(domain.ErrMissingField, "dialog_id is required")
		if p.DialogID != "" {
			err = domain.Errorf(domain.ErrThreadNotFound, "no dialog %q", p.DialogID)
		}
	}
	if err == nil && utf8.RuneCountInString(p.Reason) > 500 {
		err = domain.Errorf(domain.ErrInvalidField, "reason is at most 500 characters")
	}
	if err != nil {
		d.fail(c, err)
		return
	}
	res, err := d.Commands.Handoff(c.Request.Context(), inst.ID, p.DialogID, domain.SessionReasonHandoff, p.Reason,
		commands.Context{Actor: domain.Actor{Kind: domain.ActorAPIKey, ID: domain.BotAuthor(bot.ID)}})
	if err != nil {
		d.fail(c, err)
		return
	}
	if res.Position > 0 {
		c.Header("X-SocialOps-Position", itoa(res.Position))
	}
	c.JSON(http.StatusOK, answer{Ret: 1, Msg: "success", Data: gin.H{"dialog_id": p.DialogID, "status": domain.StatePending}})
}

// readParams reads the seed's parameters from a form or a JSON body.
func readParams(c *gin.Context) (params, error) {
	var p params
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return p, domain.Errorf(domain.ErrInvalidField, "the body is larger than %d bytes", maxBody)
	}
	if err != nil {
		return p, domain.Errorf(domain.ErrInvalidPayload, "the body could not be read")
	}
	ct, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	switch ct {
	case "application/json":
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			return p, domain.Errorf(domain.ErrInvalidPayload, "the body is not a JSON object of the seed's parameters (strings): %v", err)
		}
	case "application/x-www-form-urlencoded", "":
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return p, domain.Errorf(domain.ErrInvalidPayload, "the form could not be read")
		}
		p = params{DialogID: v.Get("dialog_id"), Text: v.Get("text"), TextType: v.Get("text_type"), Key: v.Get("key"),
			Silence: v.Get("silence"), ReplyID: v.Get("reply_id"), Reason: v.Get("reason")}
	default:
		return p, domain.Errorf(domain.ErrInvalidPayload, "send application/x-www-form-urlencoded or application/json")
	}
	return p, nil
}

// check validates the parameters and returns the text as provider messages:
// converted to Telegram HTML and split to its limit, in order.
func (p *params) check() ([]string, error) {
	if !strings.HasPrefix(p.DialogID, domain.PrefixThread) {
		if p.DialogID == "" {
			return nil, domain.Errorf(domain.ErrMissingField, "dialog_id is required")
		}
		return nil, domain.Errorf(domain.ErrThreadNotFound, "no dialog %q", p.DialogID)
	}
	if strings.TrimSpace(p.Text) == "" {
		return nil, domain.Errorf(domain.ErrMissingField, "text is required")
	}
	if !utf8.ValidString(p.Text) {
		return nil, domain.Errorf(domain.ErrInvalidField, "text is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(p.Text); n > MaxTextRunes {
		return nil, domain.Errorf(domain.ErrInvalidField, "text is %d characters; at most %d", n, MaxTextRunes)
	}
	if p.TextType == "" {
		p.TextType = "html"
	}
	if p.Silence == "" {
		p.Silence = "no"
	}
	switch {
	case p.TextType != "html" && p.TextType != "md":
		return nil, domain.Errorf(domain.ErrInvalidField, "text_type is html or md")
	case p.Silence != "yes" && p.Silence != "no":
		return nil, domain.Errorf(domain.ErrInvalidField, "silence is yes or no")
	case len(p.Key) > 128:
		return nil, domain.Errorf(domain.ErrInvalidField, "key is at most 128 characters")
	case p.ReplyID != "" && !strings.HasPrefix(p.ReplyID, domain.PrefixMessage):
		return nil, domain.Errorf(domain.ErrMessageNotFound, "reply_id %q is not a message id", p.ReplyID)
	}
	html := p.Text
	if p.TextType == "md" {
		html = telegram.MarkdownToHTML(p.Text)
	} else {
		html = telegram.SanitizeHTML(html)
	}
	return telegram.SplitHTML(html, telegram.MaxMessageLength), nil
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

package httpapi

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/socialops/socialops/adapters/wecom"
	"github.com/socialops/socialops/commands"
	"github.com/socialops/socialops/domain"
)

// The WeCom callback (seed 003's /wecom/callback under the instance base
// URL) answers WeCom in its own words: plain text, "error" for a refused URL
// verification, "success" for a message. A POST is answered 200 only once the
// message is stored (or known as a duplicate); when storing fails it answers
// 500 "error", so WeCom delivers it again, rather than the seed's "success":
// a retry costs nothing (deduplication by MsgId), a lost customer message
// cannot be undone.

var validWeComTimestamp = regexp.MustCompile(`^[0-9]{1,12}$`)

// wecomQuery is the signed query of both methods.
type wecomQuery struct {
	signature, timestamp, nonce string
}

func readWeComQuery(c *gin.Context) (wecomQuery, bool) {
	q := wecomQuery{signature: c.Query("msg_signature"), timestamp: c.Query("timestamp"), nonce: c.Query("nonce")}
	ok := q.signature != "" && len(q.signature) <= 128 && validWeComTimestamp.MatchString(q.timestamp) &&
		q.nonce != "" && len(q.nonce) <= 64
	return q, ok
}

// wecomCrypt finds the instance's WeCom settings and checks the timestamp.
// Every refusal is the same 401, so an unknown alias looks like a wrong
// signature (the reason is logged); a failing database is a 500.
func (h *handlers) wecomCrypt(c *gin.Context, q wecomQuery) (domain.Instance, *wecom.Crypt, int) {
	ctx := c.Request.Context()
	refuse := func(status int, reason string, err error) (domain.Instance, *wecom.Crypt, int) {
		h.Logger.Info("wecom callback refused", "alias", c.Param("alias"), "reason", reason, "error", err, "request_id", requestID(c))
		return domain.Instance{}, nil, status
	}
	if h.WeComMaxAge > 0 {
		ts, _ := strconv.ParseInt(q.timestamp, 10, 64)
		if age := h.Now().Sub(time.Unix(ts, 0)); age > h.WeComMaxAge || age < -h.WeComMaxAge {
			return refuse(http.StatusUnauthorized, "stale timestamp", nil)
		}
	}
	inst, err := h.Tenancy.InstanceByAlias(ctx, c.Param("alias"))
	if errors.Is(err, domain.ErrInstanceNotFound) {
		return refuse(http.StatusUnauthorized, "no such instance", nil)
	}
	if err != nil {
		return refuse(http.StatusInternalServerError, "instance lookup failed", err)
	}
	settings, found, err := h.Tenancy.WeComSettings(ctx, inst.ID)
	if err != nil {
		return refuse(http.StatusInternalServerError, "wecom settings unreadable", err)
	}
	if !found {
		return refuse(http.StatusUnauthorized, "no wecom settings", nil)
	}
	crypt, err := wecom.NewCrypt(settings.Token, settings.AESKey, settings.CorpID)
	if err != nil {
		return refuse(http.StatusUnauthorized, "wecom settings", err)
	}
	return inst, crypt, http.StatusOK
}

func wecomText(c *gin.Context, status int, body string) {
	c.Data(status, "text/plain; charset=utf-8", []byte(body))
}

// wecomVerifyURL is GET /wecom/callback: WeCom checks the callback URL by
// sending an encrypted echostr, which must come back decrypted.
func (h *handlers) wecomVerifyURL(c *gin.Context) {
	q, ok := readWeComQuery(c)
	echostr := c.Query("echostr")
	if !ok || echostr == "" {
		wecomText(c, http.StatusBadRequest, "error")
		return
	}
	_, crypt, status := h.wecomCrypt(c, q)
	if status != http.StatusOK {
		wecomText(c, status, "error")
		return
	}
	plain, err := crypt.Open(q.signature, q.timestamp, q.nonce, echostr)
	if err != nil {
		h.Logger.Info("wecom url verification refused", "alias", c.Param("alias"), "error", err, "request_id", requestID(c))
		wecomText(c, http.StatusUnauthorized, "error")
		return
	}
	wecomText(c, http.StatusOK, string(plain))
}

// wecomCallback is POST /wecom/callback: an encrypted message or event.
func (h *handlers) wecomCallback(c *gin.Context) {
	q, ok := readWeComQuery(c)
	if !ok {
		wecomText(c, http.StatusBadRequest, "success")
		return
	}
	if !xmlMediaType(c.GetHeader("Content-Type")) {
		wecomText(c, http.StatusUnsupportedMediaType, "success")
		return
	}
	body, err := readBody(c, h.MaxBodyBytes)
	if errors.Is(err, errTooLarge) {
		wecomText(c, http.StatusRequestEntityTooLarge, "success")
		return
	}
	if err != nil {
		wecomText(c, http.StatusBadRequest, "success")
		return
	}
	env, err := wecom.ParseEnvelope(body)
	if err != nil {
		h.Logger.Info("wecom callback refused", "alias", c.Param("alias"), "error", err, "request_id", requestID(c))
		wecomText(c, http.StatusBadRequest, "success")
		return
	}
	inst, crypt, status := h.wecomCrypt(c, q)
	if status == http.StatusInternalServerError {
		wecomText(c, status, "error")
		return
	}
	if status != http.StatusOK {
		wecomText(c, status, "success")
		return
	}
	if err := crypt.Verify(q.signature, q.timestamp, q.nonce, env.Encrypt); err != nil {
		h.Logger.Info("wecom callback refused", "alias", c.Param("alias"), "error", err, "request_id", requestID(c))
		wecomText(c, http.StatusUnauthorized, "success")
		return
	}
	if !h.limit(c, "webhook:"+inst.ID+":"+wecom.Provider) {
		return
	}
	plain, err := crypt.Open(q.signature, q.timestamp, q.nonce, env.Encrypt)
	if err != nil {
		h.Logger.Info("wecom callback refused", "alias", c.Param("alias"), "error", err, "request_id", requestID(c))
		status = http.StatusBadRequest
		if errors.Is(err, wecom.ErrReceiveID) {
			status = http.StatusUnauthorized
		}
		wecomText(c, status, "success")
		return
	}
	msg, err := wecom.Normalize(plain)
	if err != nil {
		h.Logger.Info("wecom callback refused", "alias", c.Param("alias"), "error", err, "request_id", requestID(c))
		wecomText(c, http.StatusBadRequest, "success")
		return
	}
	raw, _ := json.Marshal(map[string]string{"wecom_xml": string(plain)})
	res, err := h.Commands.IngestWebhook(c.Request.Context(), commands.IngestWebhook{
		Instance:   inst,
		Message:    msg,
		RawPayload: raw,
		Context:    commands.Context{Actor: domain.Actor{Kind: domain.ActorProvider, ID: wecom.Provider}, CorrelationID: requestID(c)},
	})
	if err != nil {
		// Not stored: WeCom must deliver it again (see the comment at the top).
		h.Logger.Error("wecom message not stored; answering 500 so WeCom retries", "alias", c.Param("alias"),
			"error", err, "request_id", requestID(c))
		wecomText(c, http.StatusInternalServerError, "error")
		return
	}
	c.Header(PositionHeader, strconv.FormatUint(res.Position, 10))
	wecomText(c, http.StatusOK, "success")
}

// xmlMediaType accepts what WeCom sends (XML, or no or a plain-text type)
// and refuses types that say the body is something else (JSON, forms).
func xmlMediaType(ct string) bool {
	if ct == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/xml" || mt == "text/xml" || mt == "text/plain" || strings.HasSuffix(mt, "+xml"))
}

package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/socialops/socialops/adapters/channelcallback"
	"github.com/socialops/socialops/commands"
	"github.com/socialops/socialops/domain"
)

// channelResponse is seed 003's ApiResponse envelope.
type channelResponse struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

func channelAnswer(c *gin.Context, status int, message string, data any) {
	code := status
	if status == http.StatusOK {
		code = 0
	}
	c.JSON(status, channelResponse{Code: code, Message: message, Data: data})
}

// channelCallback is POST /channel/:channelType/callback (seed 003): a
// signed message from the wechat, douyin or jd channel server. Checks run so
// a refusal stores nothing: type (404), media type (415), size (413),
// signature and timestamp (401), fields (400), nonce (401 when replayed). The nonce is
// claimed before the message is stored and released if storing fails, so
// the sender's retry is not taken for a replay.
func (h *handlers) channelCallback(c *gin.Context) {
	ctx := c.Request.Context()
	channelType := c.Param("channelType")
	if !channelcallback.Known(channelType) {
		channelAnswer(c, http.StatusNotFound, "unsupported channel type; use wechat, douyin or jd", nil)
		return
	}
	if err := requireJSON(c); err != nil {
		channelAnswer(c, http.StatusUnsupportedMediaType, "the body must be application/json", nil)
		return
	}
	body, err := readBody(c, h.MaxBodyBytes)
	if errors.Is(err, errTooLarge) {
		channelAnswer(c, http.StatusRequestEntityTooLarge, "the body is too large", nil)
		return
	}
	if err != nil {
		channelAnswer(c, http.StatusBadRequest, "the body could not be read", nil)
		return
	}
	signature, timestamp, nonce := c.GetHeader("X-Signature"), c.GetHeader("X-Timestamp"), c.GetHeader("X-Nonce")
	refuse := func(reason string, err error) {
		h.Logger.Info("channel callback refused", "alias", c.Param("alias"), "channel_type", channelType,
			"reason", reason, "error", err, "request_id", requestID(c))
		channelAnswer(c, http.StatusUnauthorized, "invalid signature", nil)
	}
	inst, err := h.Tenancy.InstanceByAlias(ctx, c.Param("alias"))
	secret, found := h.decoySecret, false
	switch {
	case errors.Is(err, domain.ErrInstanceNotFound):
	case err != nil:
		h.channelFailed(c, err)
		return
	default:
		s, ok, err := h.Tenancy.WebhookSecret(ctx, inst.ID, channelType)
		if err != nil {
			h.channelFailed(c, err)
			return
		}
		if ok {
			secret, found = s, true
		}
	}
	// With no instance or no secret the decoy secret is checked anyway, so
	// the answer is the one a wrong signature gets.
	if err := channelcallback.Verify(secret, signature, timestamp, nonce, body, h.Now(), h.WebhookTolerance); err != nil || !found {
		refuse("signature", err)
		return
	}
	if !h.limit(c, "webhook:"+inst.ID+":"+channelType) {
		return
	}
	msg, err := channelcallback.Normalize(channelType, body)
	if err != nil {
		channelAnswer(c, http.StatusBadRequest, err.Error(), nil)
		return
	}
	ts, _ := strconv.ParseInt(timestamp, 10, 64)
	fresh, err := h.Tenancy.ClaimCallbackNonce(ctx, inst.ID, channelType, nonce, h.Now(), time.Unix(ts, 0).Add(h.WebhookTolerance))
	if err != nil {
		h.channelFailed(c, err)
		return
	}
	if !fresh {
		refuse("replayed nonce", nil)
		return
	}
	res, err := h.Commands.IngestWebhook(ctx, commands.IngestWebhook{
		Instance:   inst,
		Message:    msg,
		RawPayload: json.RawMessage(body),
		Context:    commands.Context{Actor: domain.Actor{Kind: domain.ActorProvider, ID: channelType}, CorrelationID: requestID(c)},
	})
	if err != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if rerr := h.Tenancy.ReleaseCallbackNonce(rctx, inst.ID, channelType, nonce); rerr != nil {
			h.Logger.Warn("callback nonce not released", "error", rerr, "request_id", requestID(c))
		}
		h.channelFailed(c, err)
		return
	}
	c.Header(PositionHeader, strconv.FormatUint(res.Position, 10))
	data := gin.H{"threadId": res.ThreadID, "messageId": res.MessageID}
	if res.Duplicate {
		data["duplicate"] = true
	}
	channelAnswer(c, http.StatusOK, "success", data)
}

func (h *handlers) channelFailed(c *gin.Context, err error) {
	h.Logger.Error("channel callback not stored", "alias", c.Param("alias"), "error", err, "request_id", requestID(c))
	channelAnswer(c, http.StatusInternalServerError, "internal error; retry", nil)
}

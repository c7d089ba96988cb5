package httpapi

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/socialops/socialops/adapters/postgres"
	"github.com/socialops/socialops/adapters/webhooks"
	"github.com/socialops/socialops/domain"
)

// maxWebhookBodyBytes caps the bodies of the webhook subscription routes.
const maxWebhookBodyBytes = 16 << 10

var errWebhooksOff = &domain.Error{Code: "service_unavailable", Message: "outbound webhooks are not configured on this server"}

// registerOutboundWebhooks adds the subscription routes (issue 11) to the API-key face.
func (h *handlers) registerOutboundWebhooks(api *gin.RouterGroup) {
	read, write := h.apiKeyAuth(postgres.ScopeRead), h.apiKeyAuth(postgres.ScopeWrite)
	api.POST("/webhooks", write, h.createWebhook)
	api.GET("/webhooks", read, h.listWebhooks)
	api.GET("/webhooks/:webhook_id", read, h.getWebhook)
	api.PATCH("/webhooks/:webhook_id", write, h.patchWebhook)
	api.DELETE("/webhooks/:webhook_id", write, h.deleteWebhook)
	api.POST("/webhooks/:webhook_id/rotate", write, h.rotateWebhook)
	api.POST("/webhooks/:webhook_id/test", write, h.testWebhook)
	api.GET("/webhooks/:webhook_id/deliveries", read, h.listWebhookDeliveries)
	api.POST("/webhooks/:webhook_id/deliveries/:delivery_id/resend", write, h.resendWebhookDelivery)
	api.POST("/webhooks/:webhook_id/recover", write, h.recoverWebhookDeliveries)
}

type webhookView struct {
	ID                      string     `json:"id"`
	URL                     string     `json:"url"`
	Events                  []string   `json:"events"`
	Description             string     `json:"description"`
	Enabled                 bool       `json:"enabled"`
	DisabledReason          string     `json:"disabled_reason,omitempty"`
	FailingSince            *time.Time `json:"failing_since,omitempty"`
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at,omitempty"`
	CreatedAt               time.Time  `json:"created_at"`
	UpdatedAt               time.Time  `json:"updated_at"`
	// Secret is shown once: when created and when rotated.
	Secret string `json:"secret,omitempty"`
}

func viewWebhook(s webhooks.Subscription, secret string) webhookView {
	return webhookView{ID: s.ID, URL: s.URL, Events: s.Events, Description: s.Description, Enabled: s.Enabled,
		DisabledReason: s.DisabledReason, FailingSince: s.FailingSince, PreviousSecretExpiresAt: s.PreviousSecretUntil,
		CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt, Secret: secret}
}

type attemptView struct {
	At           time.Time `json:"at"`
	Trigger      string    `json:"trigger"`
	StatusCode   *int      `json:"status_code"`
	ResponseBody string    `json:"response_body"`
	DurationMS   float64   `json:"duration_ms"`
	Error        string    `json:"error,omitempty"`
	Succeeded    bool      `json:"succeeded"`
}

type deliveryView struct {
	ID            string        `json:"id"`
	EventID       string        `json:"event_id"`
	Event         string        `json:"event"`
	Status        string        `json:"status"`
	NextAttemptAt *time.Time    `json:"next_attempt_at,omitempty"`
	CreatedAt     time.Time     `json:"created_at"`
	Attempts      []attemptView `json:"attempts"`
}

func viewDelivery(d webhooks.Delivery) deliveryView {
	v := deliveryView{ID: d.ID, EventID: d.EventID, Event: d.Event, Status: d.Status, NextAttemptAt: d.NextAttemptAt,
		CreatedAt: d.CreatedAt, Attempts: make([]attemptView, 0, len(d.Attempts))}
	for _, a := range d.Attempts {
		v.Attempts = append(v.Attempts, attemptView{At: a.At, Trigger: a.Trigger, StatusCode: a.StatusCode,
			ResponseBody: a.ResponseBody, DurationMS: a.DurationMS, Error: a.Error, Succeeded: a.Succeeded})
	}
	return v
}

type webhookBody struct {
	URL         *string   `json:"url"`
	Events      *[]string `json:"events"`
	Description *string   `json:"description"`
	Enabled     *bool     `json:"enabled"`
}

func (b webhookBody) input() webhooks.Input {
	return webhooks.Input{URL: b.URL, Events: b.Events, Description: b.Description, Enabled: b.Enabled}
}

// webhooksOn answers 503 when the server has no webhook store.
func (h *handlers) webhooksOn(c *gin.Context) bool {
	if h.Webhooks == nil {
		writeError(c, h.Logger, errWebhooksOff)
		return false
	}
	return true
}

func (h *handlers) createWebhook(c *gin.Context) {
	if !h.webhooksOn(c) {
		return
	}
	var body webhookBody
	if err := decodeBody(c, maxWebhookBodyBytes, &body); err != nil {
		writeError(c, h.Logger, err)
		return
	}
	sub, secret, err := h.Webhooks.Create(c.Request.Context(), instanceOf(c).ID, body.input())
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	ok(c, http.StatusCreated, gin.H{"webhook": viewWebhook(sub, secret)})
}

func (h *handlers) listWebhooks(c *gin.Context) {
	if !h.webhooksOn(c) {
		return
	}
	subs, err := h.Webhooks.List(c.Request.Context(), instanceOf(c).ID)
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	out := make([]webhookView, 0, len(subs))
	for _, s := range subs {
		out = append(out, viewWebhook(s, ""))
	}
	ok(c, http.StatusOK, gin.H{"webhooks": out})
}

func (h *handlers) getWebhook(c *gin.Context) {
	if !h.webhooksOn(c) {
		return
	}
	sub, err := h.Webhooks.Get(c.Request.Context(), instanceOf(c).ID, c.Param("webhook_id"))
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	ok(c, http.StatusOK, gin.H{"webhook": viewWebhook(sub, "")})
}

func (h *handlers) patchWebhook(c *gin.Context) {
	if !h.webhooksOn(c) {
		return
	}
	var body webhookBody
	if err := decodeBody(c, maxWebhookBodyBytes, &body); err != nil {
		writeError(c, h.Logger, err)
		return
	}
	sub, err := h.Webhooks.Update(c.Request.Context(), instanceOf(c).ID, c.Param("webhook_id"), body.input())
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	ok(c, http.StatusOK, gin.H{"webhook": viewWebhook(sub, "")})
}

func (h *handlers) deleteWebhook(c *gin.Context) {
	if !h.webhooksOn(c) {
		return
	}
	id := c.Param("webhook_id")
	if err := h.Webhooks.Delete(c.Request.Context(), instanceOf(c).ID, id); err != nil {
		writeError(c, h.Logger, err)
		return
	}
	ok(c, http.StatusOK, gin.H{"deleted": id})
}

func (h *handlers) rotateWebhook(c *gin.Context) {
	if !h.webhooksOn(c) {
		return
	}
	sub, secret, err := h.Webhooks.Rotate(c.Request.Context(), instanceOf(c).ID, c.Param("webhook_id"))
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	ok(c, http.StatusOK, gin.H{"webhook": viewWebhook(sub, secret)})
}

func (h *handlers) testWebhook(c *gin.Context) {
	if !h.webhooksOn(c) {
		return
	}
	d, err := h.Webhooks.SendTest(c.Request.Context(), instanceOf(c).ID, c.Param("webhook_id"))
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	ok(c, http.StatusAccepted, gin.H{"delivery": viewDelivery(d)})
}

func (h *handlers) listWebhookDeliveries(c *gin.Context) {
	if !h.webhooksOn(c) {
		return
	}
	page, limit, err := paging(c)
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	status := c.Query("status")
	if status != "" && !contains(webhooks.Statuses, status) {
		writeError(c, h.Logger, domain.Errorf(errInvalidParameter, "status must be one of pending, succeeded, failed, exhausted"))
		return
	}
	ds, total, err := h.Webhooks.Deliveries(c.Request.Context(), instanceOf(c).ID, c.Param("webhook_id"),
		webhooks.ListFilter{Status: status, Page: page, Limit: limit})
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	out := make([]deliveryView, 0, len(ds))
	for _, d := range ds {
		out = append(out, viewDelivery(d))
	}
	ok(c, http.StatusOK, gin.H{"deliveries": out, "total": total, "page": page, "limit": limit})
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func (h *handlers) resendWebhookDelivery(c *gin.Context) {
	if !h.webhooksOn(c) {
		return
	}
	d, err := h.Webhooks.Resend(c.Request.Context(), instanceOf(c).ID, c.Param("webhook_id"), c.Param("delivery_id"))
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	ok(c, http.StatusAccepted, gin.H{"delivery": viewDelivery(d)})
}

func (h *handlers) recoverWebhookDeliveries(c *gin.Context) {
	if !h.webhooksOn(c) {
		return
	}
	var body struct {
		Since *string `json:"since"`
	}
	if err := decodeBody(c, maxWebhookBodyBytes, &body); err != nil {
		writeError(c, h.Logger, err)
		return
	}
	if body.Since == nil {
		writeError(c, h.Logger, domain.Errorf(domain.ErrMissingField, "since is required (RFC 3339)"))
		return
	}
	since, err := time.Parse(time.RFC3339, *body.Since)
	if err != nil {
		writeError(c, h.Logger, domain.Errorf(domain.ErrInvalidField, "since is not an RFC 3339 time such as 2025-01-02T15:04:05Z"))
		return
	}
	n, err := h.Webhooks.Recover(c.Request.Context(), instanceOf(c).ID, c.Param("webhook_id"), since)
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	ok(c, http.StatusAccepted, gin.H{"recovered": n, "since": since.UTC().Format(time.RFC3339)})
}

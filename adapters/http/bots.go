package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/socialops/socialops/adapters/bots"
	"github.com/socialops/socialops/adapters/http/botapi"
	"github.com/socialops/socialops/adapters/postgres"
	"github.com/socialops/socialops/domain"
)

var errBotsOff = &domain.Error{Code: "service_unavailable", Message: "bots are not configured on this server"}

// registerBots mounts bot management (issue 13) on the API-key face and the
// console, and seed 001's sendtext.
func (h *handlers) registerBots(api, console *gin.RouterGroup, read, manage func(gin.HandlerFunc) []gin.HandlerFunc) {
	rd, wr := h.apiKeyAuth(postgres.ScopeRead), h.apiKeyAuth(postgres.ScopeWrite)
	api.GET("/bots", rd, h.listBots)
	api.POST("/bots", wr, h.createBot)
	api.GET("/bots/:bot_id", rd, h.getBot)
	api.PATCH("/bots/:bot_id", wr, h.patchBot)
	api.DELETE("/bots/:bot_id", wr, h.deleteBot)
	api.POST("/bots/:bot_id/rotate-token", wr, h.rotateBotToken)
	console.GET("/:alias/bots", read(h.listBots)...)
	console.POST("/:alias/bots", manage(h.createBot)...)
	console.GET("/:alias/bots/:bot_id", read(h.getBot)...)
	console.PATCH("/:alias/bots/:bot_id", manage(h.patchBot)...)
	console.DELETE("/:alias/bots/:bot_id", manage(h.deleteBot)...)
	console.POST("/:alias/bots/:bot_id/rotate-token", manage(h.rotateBotToken)...)
	botapi.Register(api, botapi.Deps{Commands: h.Commands, Bots: h.Bots,
		Instance: h.Tenancy.InstanceByAlias, StatusOf: statusOfError,
		Unexpected: func(c *gin.Context, err error) {
			h.Logger.Error("request failed", "path", c.FullPath(), "request_id", requestID(c), "error", err)
		}})
}

// botView is a bot as the API shows it: its token and secret only in the
// answers that make them.
type botView struct {
	bots.Bot
	Token  string `json:"token,omitempty"`
	Secret string `json:"secret,omitempty"`
}

type botBody struct {
	Name            *string  `json:"name"`
	WebhookURL      *string  `json:"webhook_url"`
	Events          []string `json:"events"`
	Mode            *string  `json:"mode"`
	IncludeToken    *bool    `json:"include_token"`
	HandoffKeywords []string `json:"handoff_keywords"`
	AnswerTimeout   *int     `json:"answer_timeout_seconds"`
	Kind            *string  `json:"kind"`
	SystemPrompt    *string  `json:"system_prompt"`
	FAQ             *string  `json:"faq"`
	Model           *string  `json:"model"`
	MaxTurns        *int     `json:"max_turns"`
}

func (b botBody) settings() bots.Settings {
	return bots.Settings{Name: b.Name, WebhookURL: b.WebhookURL, Events: b.Events, Mode: b.Mode, IncludeToken: b.IncludeToken,
		HandoffKeywords: b.HandoffKeywords, AnswerTimeout: b.AnswerTimeout, Kind: b.Kind, SystemPrompt: b.SystemPrompt,
		FAQ: b.FAQ, Model: b.Model, MaxTurns: b.MaxTurns}
}

func (h *handlers) botsOn(c *gin.Context) bool {
	if h.Bots == nil {
		writeError(c, h.Logger, errBotsOff)
		return false
	}
	return true
}

func (h *handlers) listBots(c *gin.Context) {
	if !h.botsOn(c) {
		return
	}
	list, err := h.Bots.List(c.Request.Context(), instanceOf(c).ID)
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	ok(c, http.StatusOK, gin.H{"bots": list})
}

func (h *handlers) createBot(c *gin.Context) {
	if !h.botsOn(c) {
		return
	}
	var b botBody
	if err := decodeBody(c, maxCredentialBodyBytes, &b); err != nil {
		writeError(c, h.Logger, err)
		return
	}
	bot, token, secret, err := h.Bots.Create(c.Request.Context(), instanceOf(c).ID, b.settings())
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	h.Logger.Info("bot created", "bot_id", bot.ID, "instance", instanceOf(c).Alias, "actor", actorOf(c).ID)
	ok(c, http.StatusCreated, gin.H{"bot": botView{Bot: bot, Token: token, Secret: secret}})
}

func (h *handlers) getBot(c *gin.Context) {
	if !h.botsOn(c) {
		return
	}
	bot, err := h.Bots.Get(c.Request.Context(), instanceOf(c).ID, c.Param("bot_id"))
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	ok(c, http.StatusOK, gin.H{"bot": botView{Bot: bot}})
}

func (h *handlers) patchBot(c *gin.Context) {
	if !h.botsOn(c) {
		return
	}
	var b botBody
	if err := decodeBody(c, maxCredentialBodyBytes, &b); err != nil {
		writeError(c, h.Logger, err)
		return
	}
	bot, err := h.Bots.Update(c.Request.Context(), instanceOf(c).ID, c.Param("bot_id"), b.settings())
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	ok(c, http.StatusOK, gin.H{"bot": botView{Bot: bot}})
}

func (h *handlers) deleteBot(c *gin.Context) {
	if !h.botsOn(c) {
		return
	}
	if err := h.Bots.Delete(c.Request.Context(), instanceOf(c).ID, c.Param("bot_id")); err != nil {
		writeError(c, h.Logger, err)
		return
	}
	h.Logger.Info("bot deleted", "bot_id", c.Param("bot_id"), "actor", actorOf(c).ID)
	c.Status(http.StatusNoContent)
}

func (h *handlers) rotateBotToken(c *gin.Context) {
	if !h.botsOn(c) {
		return
	}
	bot, token, err := h.Bots.RotateToken(c.Request.Context(), instanceOf(c).ID, c.Param("bot_id"))
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	h.Logger.Info("bot token rotated", "bot_id", bot.ID, "actor", actorOf(c).ID)
	ok(c, http.StatusOK, gin.H{"bot": botView{Bot: bot, Token: token}})
}

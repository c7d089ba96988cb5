// Package httpapi is the HTTP face of SocialOps (gin): routes, authentication,
// request limits, and the one place where error codes become statuses.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/socialops/socialops/adapters/bots"
	"github.com/socialops/socialops/adapters/http/integration"
	"github.com/socialops/socialops/adapters/postgres"
	"github.com/socialops/socialops/adapters/realtime"
	"github.com/socialops/socialops/adapters/webhooks"
	"github.com/socialops/socialops/commands"
	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

// Pinger is something /readyz checks.
type Pinger interface {
	Ping(ctx context.Context) error
}

// DefaultMaxBodyBytes caps request bodies at 768 KiB: with the derived text
// (at most 64 KiB, 128 KiB once JSON-escaped) and metadata, the largest
// accepted webhook still fits one event-store append (domain.MaxAppendBytes,
// KurrentDB's default 1 MiB). A higher SOCIALOPS_MAX_BODY_BYTES works, but a
// body whose events then exceed the append limit is answered 413.
const DefaultMaxBodyBytes = 768 << 10

// Deps are what the routes need.
type Deps struct {
	Logger     *slog.Logger
	Database   Pinger
	EventStore Pinger
	Tenancy    *postgres.Tenancy
	// Accounts holds connected accounts (channel rules); Idempotency the reply keys.
	Accounts    *postgres.Accounts
	Idempotency *postgres.IdempotencyKeys
	Commands    *commands.Service
	// Reads is where queries read the read models (a pool).
	Reads projections.Querier
	// Events is the event log, read by the audit endpoint only.
	Events EventReader
	// Head returns the log head, so a query refuses an X-SocialOps-Position
	// above it (default: Events' HeadPosition when it has one).
	Head     func(ctx context.Context) (uint64, error)
	Registry *domain.Registry
	// Projections reports halted projectors to /readyz (optional).
	Projections ProjectionHealth
	// Roles lists the follower roles this process holds, shown by /readyz (optional).
	Roles        RoleHolder
	Now          func() time.Time
	MaxBodyBytes int64
	// WebhookTolerance bounds the age of a signed generic-webhook timestamp.
	WebhookTolerance time.Duration
	// WeComMaxAge bounds the age of a WeCom callback's timestamp (default
	// 5 min; negative: not checked, which replaying published vectors needs).
	WeComMaxAge time.Duration
	// ReadYourWritesWait bounds how long a query waits for X-SocialOps-Position.
	ReadYourWritesWait time.Duration
	// RequestTimeout bounds each request (default 10 s).
	RequestTimeout time.Duration
	// RateLimitRPS and RateLimitBurst size the token bucket of each key; 0 disables.
	RateLimitRPS   float64
	RateLimitBurst int
	// AuthFailuresPerMinute and AuthFailureBurst size the bucket of failed
	// authentications of each client address; 0 disables.
	AuthFailuresPerMinute float64
	AuthFailureBurst      int
	// TrustedProxies are the addresses or CIDRs whose X-Forwarded-For names
	// the client; empty: the client is the connection's address.
	TrustedProxies []string
	// Bots keeps the instances' bots (issue 13); nil turns the bot routes off.
	Bots *bots.Store
	// Messages edits and retracts outbound messages where they were
	// delivered (the delivery process manager); nil answers those routes 503.
	Messages integration.MessageChanger
	// UnmergeWindow is how long a merge of contacts can be undone (default 72 h).
	UnmergeWindow time.Duration
	// AccessTokenTTL is how long an OAuth2 access token lives (default 1h).
	AccessTokenTTL time.Duration
	// JWTSecret verifies console user tokens (HS256); empty disables the console.
	JWTSecret []byte
	// Metrics records every request by route template, method and status (optional).
	Metrics RequestObserver
	// Webhooks holds outbound webhook subscriptions and deliveries (nil: those routes answer 503).
	Webhooks *webhooks.Store
	// Hub serves the WebSocket routes (nil: they answer 503).
	Hub *realtime.Hub
	// ConsoleSessions resolves the web console's session cookie (nil: only
	// bearer tokens authenticate console routes).
	ConsoleSessions ConsoleSessions
}

// EventReader reads one stream of the event log.
type EventReader interface {
	ReadStream(ctx context.Context, stream string, direction domain.ReadDirection, from uint64, count uint64) ([]domain.RecordedEvent, error)
}

// ProjectionHealth tells whether every projector is running.
type ProjectionHealth interface {
	Healthy() error
}

// NewRouter builds the gin engine with every route.
func NewRouter(d Deps) *gin.Engine {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.MaxBodyBytes == 0 {
		d.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if d.WebhookTolerance == 0 {
		d.WebhookTolerance = 5 * time.Minute
	}
	if d.WeComMaxAge == 0 {
		d.WeComMaxAge = 5 * time.Minute
	}
	if d.ReadYourWritesWait == 0 {
		d.ReadYourWritesWait = 2 * time.Second
	}
	if d.Registry == nil {
		d.Registry = domain.NewEventRegistry()
	}
	if d.RequestTimeout == 0 {
		d.RequestTimeout = 10 * time.Second
	}
	if hp, ok := d.Events.(interface {
		HeadPosition(context.Context) (uint64, error)
	}); ok && d.Head == nil {
		d.Head = hp.HeadPosition
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	if err := r.SetTrustedProxies(d.TrustedProxies); err != nil {
		d.Logger.Error("ignoring the trusted proxies: the client address is the connection's", "error", err)
		_ = r.SetTrustedProxies(nil)
	}
	r.ContextWithFallback = true
	if d.Metrics != nil {
		r.Use(observeRequests(d.Metrics))
	}
	r.Use(withRequestID(), accessLog(d.Logger), recoverer(d.Logger), withTimeout(d.RequestTimeout))
	r.NoRoute(func(c *gin.Context) { writeError(c, d.Logger, errNotFound) })
	r.NoMethod(func(c *gin.Context) { writeError(c, d.Logger, errMethod) })

	h := &handlers{Deps: d, limiters: newLimiters(d.RateLimitRPS, d.RateLimitBurst), checks: readinessChecks(d),
		credentialLimits: newCredentialLimits(d.RateLimitRPS, d.RateLimitBurst),
		authFailures:     newLimiters(d.AuthFailuresPerMinute/60, d.AuthFailureBurst),
		decoySecret:      domain.RandomID("decoy_", domain.CryptoRandom)}
	r.GET("/healthz", h.healthz)
	r.GET("/readyz", h.readyz)
	registerDocs(r, h)
	r.POST("/oauth/token", h.guardAuthFailures, h.oauthToken)

	api := r.Group("/v1/apps/socialops/:alias", h.guardAuthFailures)
	api.POST("/webhook/:provider", h.webhook)
	api.GET("/wecom/callback", h.wecomVerifyURL)
	api.POST("/wecom/callback", h.wecomCallback)
	api.POST("/channel/:channelType/callback", h.channelCallback)
	api.GET("/inbox", h.apiKeyAuth(postgres.ScopeRead), h.listThreads)
	api.GET("/threads", h.apiKeyAuth(postgres.ScopeRead), h.listThreads)
	api.GET("/threads/:thread_id/messages", h.apiKeyAuth(postgres.ScopeRead), h.listMessages)
	api.GET("/threads/:thread_id/events", h.apiKeyAuth(postgres.ScopeAudit), h.threadEvents)
	api.POST("/threads/:thread_id/replies", h.apiKeyAuth(postgres.ScopeWrite), h.queueReply)
	api.GET("/threads/:thread_id/actions", h.apiKeyAuth(postgres.ScopeRead), h.listActions)
	api.GET("/billing/balance", h.apiKeyAuth(postgres.ScopeRead), h.balance)
	api.GET("/billing/ledger", h.apiKeyAuth(postgres.ScopeRead), h.ledger)
	h.registerOutboundWebhooks(api)
	h.registerRealtime(api)

	// The console (seed 000): user JWTs with service:read / service:manage.
	console := r.Group("/console/socialops", h.guardAuthFailures)
	read := []gin.HandlerFunc{h.userAuth(PermissionRead), h.withConsoleInstance}
	manage := []gin.HandlerFunc{h.userAuth(PermissionManage), h.withConsoleInstance}
	with := func(chain []gin.HandlerFunc, last gin.HandlerFunc) []gin.HandlerFunc {
		return append(append([]gin.HandlerFunc{}, chain...), last)
	}
	console.GET("/instances", h.userAuth(PermissionRead), h.listInstances)
	console.GET("/:alias/channels", with(read, h.listChannels)...)
	console.POST("/:alias/channels", with(manage, h.createChannel)...)
	console.PATCH("/:alias/channels/:channel_id", with(manage, h.patchChannel)...)
	console.GET("/:alias/inbox", with(read, h.listThreads)...)
	console.GET("/:alias/threads/:thread_id/messages", with(read, h.listMessages)...)
	console.POST("/:alias/threads/:thread_id/notes", with(manage, h.addNote)...)
	console.POST("/:alias/threads/:thread_id/replies", with(manage, h.queueReply)...)
	console.PATCH("/:alias/threads/:thread_id", with(manage, h.patchThread)...)
	console.GET("/:alias/threads/:thread_id/actions", with(read, h.listActions)...)
	console.GET("/:alias/billing/balance", with(read, h.balance)...)
	console.GET("/:alias/billing/ledger", with(read, h.ledger)...)
	console.GET("/:alias/wecom", with(read, h.getWeComSettings)...)
	console.PUT("/:alias/wecom", with(manage, h.putWeComSettings)...)
	h.registerConsoleOutboundWebhooks(console, func(last gin.HandlerFunc) []gin.HandlerFunc { return with(read, last) },
		func(last gin.HandlerFunc) []gin.HandlerFunc { return with(manage, last) })
	h.registerOperators(api, console, read, manage)
	h.registerIntegration(api)
	h.registerContacts(api)
	h.registerBots(api, console, func(last gin.HandlerFunc) []gin.HandlerFunc { return with(read, last) },
		func(last gin.HandlerFunc) []gin.HandlerFunc { return with(manage, last) })
	h.registerConsoleWeb(console, func(last gin.HandlerFunc) []gin.HandlerFunc { return with(read, last) },
		func(last gin.HandlerFunc) []gin.HandlerFunc { return with(manage, last) })
	h.registerReports(api, console, func(last gin.HandlerFunc) []gin.HandlerFunc { return with(read, last) },
		func(last gin.HandlerFunc) []gin.HandlerFunc { return with(manage, last) })
	h.registerCredentials(api, console, func(last gin.HandlerFunc) []gin.HandlerFunc { return with(read, last) },
		func(last gin.HandlerFunc) []gin.HandlerFunc { return with(manage, last) })
	return r
}

type handlers struct {
	Deps
	limiters *limiters
	// credentialLimits is the rate budget of each integration credential.
	credentialLimits *credentialLimits
	// authFailures is a bucket of failed authentications per client address.
	authFailures *limiters
	checks       []readinessCheck
	// decoySecret stands in for a missing webhook secret (unknown alias, or
	// none set), so such a proof fails exactly as a wrong one does.
	decoySecret string
}

const requestIDKey = "request_id"

func withRequestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader("X-Request-ID")
		if id == "" || len(id) > 128 {
			id = domain.RandomID("req_", domain.CryptoRandom)
		}
		c.Set(requestIDKey, id)
		c.Header("X-Request-ID", id)
		c.Next()
	}
}

func requestID(c *gin.Context) string { return c.GetString(requestIDKey) }

func accessLog(logger *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		level := slog.LevelInfo
		if c.Writer.Status() >= 500 {
			level = slog.LevelError
		}
		if c.Request.URL.Path == "/healthz" || c.Request.URL.Path == "/readyz" {
			level = slog.LevelDebug
		}
		logger.Log(c.Request.Context(), level, "http request",
			"method", c.Request.Method,
			"route", c.FullPath(),
			"status", c.Writer.Status(),
			"duration_ms", float64(time.Since(start).Microseconds())/1000,
			"request_id", requestID(c),
			"error_code", c.GetString("error_code"),
		)
	}
}

func recoverer(logger *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				logger.Error("panic in handler", "route", c.FullPath(), "request_id", requestID(c), "panic", p)
				writeError(c, logger, errInternal)
			}
		}()
		c.Next()
	}
}

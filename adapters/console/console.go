// Package console is the web console people use (seed 000's 控制台): sign-in
// by a one-time link or a pasted console token, a cookie session, and a page
// application (plain JavaScript, embedded) over the JSON API under
// /console/socialops/…, kept live by its WebSocket. No Node.js builds it.
package console

import (
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgxpool"

	httpapi "github.com/socialops/socialops/adapters/http"
)

//go:embed assets
var assets embed.FS

var pages = template.Must(template.ParseFS(assets, "assets/*.html"))

// DefaultSessionTTL is how long a browser session lasts (SOCIALOPS_CONSOLE_SESSION_TTL).
const DefaultSessionTTL = 12 * time.Hour

// contentSecurityPolicy allows the page's own scripts, styles and
// connections only: no inline script, no eval, no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Deps are what the console needs.
type Deps struct {
	Pool *pgxpool.Pool
	// Secret is SOCIALOPS_JWT_SECRET: it verifies pasted tokens and links.
	Secret     []byte
	Logger     *slog.Logger
	Now        func() time.Time
	SessionTTL time.Duration
}

// Console serves the pages and resolves their session cookie.
type Console struct {
	d        Deps
	sessions *sessions
}

// New makes the console; its Sessions go into httpapi.Deps.ConsoleSessions.
func New(d Deps) *Console {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.SessionTTL <= 0 {
		d.SessionTTL = DefaultSessionTTL
	}
	return &Console{d: d, sessions: &sessions{pool: d.Pool, csrfKey: derive(d.Secret, "csrf"), now: d.Now}}
}

// Sessions resolves the console cookie for the JSON API.
func (c *Console) Sessions() httpapi.ConsoleSessions { return c.sessions }

// Register mounts the pages under /console/ (the JSON API stays under /console/socialops/).
func (c *Console) Register(r *gin.Engine) {
	static, _ := fs.Sub(assets, "assets")
	g := r.Group("/console", securityHeaders)
	g.GET("", func(ctx *gin.Context) { ctx.Redirect(http.StatusFound, "/console/") })
	g.GET("/", c.app)
	g.GET("/signin", c.signinPage)
	g.POST("/signin", c.signinToken)
	g.POST("/signout", c.signout)
	g.GET("/session", c.session)
	g.GET("/assets/*file", func(ctx *gin.Context) {
		name := strings.TrimPrefix(ctx.Param("file"), "/")
		if strings.HasSuffix(name, ".html") || name == "" {
			ctx.Status(http.StatusNotFound)
			return
		}
		ctx.Header("Cache-Control", "no-cache")
		ctx.FileFromFS(name, http.FS(static))
	})
}

func securityHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	c.Next()
}

// language is the page's language: the lang cookie (set by the switcher),
// else the first of Accept-Language that the console speaks, else English.
func language(r *http.Request) string {
	if ck, err := r.Cookie("socialops_lang"); err == nil && (ck.Value == "zh" || ck.Value == "en") {
		return ck.Value
	}
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag := strings.ToLower(strings.TrimSpace(strings.SplitN(part, ";", 2)[0]))
		switch {
		case strings.HasPrefix(tag, "zh"):
			return "zh"
		case strings.HasPrefix(tag, "en"):
			return "en"
		}
	}
	return "en"
}

// app serves the application page to a signed-in browser, else sends it to sign in.
func (c *Console) app(ctx *gin.Context) {
	if _, found, err := c.sessions.FromRequest(ctx.Request); err != nil || !found {
		if err != nil {
			c.d.Logger.Error("console: reading the session failed", "error", err)
		}
		ctx.Redirect(http.StatusSeeOther, "/console/signin")
		return
	}
	c.render(ctx, http.StatusOK, "app.html", map[string]any{"Lang": language(ctx.Request)})
}

func (c *Console) render(ctx *gin.Context, status int, page string, data map[string]any) {
	ctx.Header("Cache-Control", "no-store")
	ctx.Header("Content-Type", "text/html; charset=utf-8")
	ctx.Status(status)
	if err := pages.ExecuteTemplate(ctx.Writer, page, data); err != nil {
		c.d.Logger.Error("console: rendering a page failed", "page", page, "error", err)
	}
}

// signinText holds the sign-in page's words in each language.
var signinText = map[string]map[string]string{
	"en": {"title": "Sign in to SocialOps", "paste": "Paste a console token", "button": "Sign in",
		"hint":      "Or open a one-time link from: socialops console link --user ID --permissions service:manage",
		"link_used": "This sign-in link was used already: ask for a new one.", "other": "Use the other language"},
	"zh": {"title": "登录 SocialOps 控制台", "paste": "粘贴控制台令牌", "button": "登录",
		"hint":      "或打开一次性登录链接:socialops console link --user ID --permissions service:manage",
		"link_used": "此登录链接已被使用,请重新生成。", "other": "Use the other language"},
}

func (c *Console) signinForm(ctx *gin.Context, status int, problem string) {
	lang := language(ctx.Request)
	c.render(ctx, status, "signin.html", map[string]any{"Lang": lang, "T": signinText[lang], "Error": problem})
}

// signinPage shows the form, or redeems a one-time link (?link=).
func (c *Console) signinPage(ctx *gin.Context) {
	raw := ctx.Query("link")
	if raw == "" {
		c.signinForm(ctx, http.StatusOK, "")
		return
	}
	now := c.d.Now()
	claims, err := verifyLink(c.d.Secret, raw, now)
	if err != nil {
		c.d.Logger.Warn("console: a sign-in link was refused", "reason", err.Error())
		c.signinForm(ctx, http.StatusUnauthorized, err.Error())
		return
	}
	id, err := c.sessions.open(ctx.Request.Context(), claims.Subject, claims.Permissions, now.Add(c.d.SessionTTL), claims.ID)
	if err == errLinkUsed {
		c.d.Logger.Warn("console: a used sign-in link was refused", "user_id", claims.Subject)
		c.signinForm(ctx, http.StatusGone, signinText[language(ctx.Request)]["link_used"])
		return
	}
	if err != nil {
		c.d.Logger.Error("console: opening a session failed", "error", err)
		c.signinForm(ctx, http.StatusServiceUnavailable, "the session could not be opened: try again")
		return
	}
	c.d.Logger.Info("console: signed in by link", "user_id", claims.Subject)
	c.setCookie(ctx, id, now.Add(c.d.SessionTTL))
	// A redirect takes the link out of the address bar and history.
	ctx.Redirect(http.StatusSeeOther, "/console/")
}

// signinToken opens a session for a pasted console token (form field token).
func (c *Console) signinToken(ctx *gin.Context) {
	if !sameOrigin(ctx.Request) {
		c.signinForm(ctx, http.StatusForbidden, "the sign-in form must be posted from this server's own page")
		return
	}
	now := c.d.Now()
	raw := strings.TrimSpace(ctx.PostForm("token"))
	if len(raw) > 8<<10 {
		c.signinForm(ctx, http.StatusBadRequest, "the token is too long")
		return
	}
	user, perms, exp, err := httpapi.VerifyConsoleToken(c.d.Secret, raw, now)
	if err != nil {
		c.signinForm(ctx, http.StatusUnauthorized, err.Error())
		return
	}
	if until := now.Add(c.d.SessionTTL); exp.IsZero() || exp.After(until) {
		exp = until
	}
	id, err := c.sessions.open(ctx.Request.Context(), user, perms, exp, "")
	if err != nil {
		c.d.Logger.Error("console: opening a session failed", "error", err)
		c.signinForm(ctx, http.StatusServiceUnavailable, "the session could not be opened: try again")
		return
	}
	c.d.Logger.Info("console: signed in with a token", "user_id", user)
	c.setCookie(ctx, id, exp)
	ctx.Redirect(http.StatusSeeOther, "/console/")
}

// signout ends the session (its CSRF token in the header or the form).
func (c *Console) signout(ctx *gin.Context) {
	s, found, err := c.sessions.FromRequest(ctx.Request)
	if err == nil && found {
		token := ctx.GetHeader(httpapi.CSRFHeader)
		if token == "" {
			token = ctx.PostForm("csrf")
		}
		if token != s.CSRFToken {
			ctx.JSON(http.StatusForbidden, gin.H{"success": false, "error": gin.H{"code": "csrf_failed", "message": "signing out needs the session's CSRF token"}})
			return
		}
		ck, _ := ctx.Request.Cookie(CookieName)
		if err := c.sessions.close(ctx.Request.Context(), ck.Value); err != nil {
			c.d.Logger.Error("console: signing out failed", "error", err)
		}
		c.d.Logger.Info("console: signed out", "user_id", s.UserID)
	}
	c.setCookie(ctx, "", time.Unix(0, 0))
	ctx.Redirect(http.StatusSeeOther, "/console/signin")
}

// session serves GET /console/session: who is signed in, their permissions
// and the CSRF token the page sends with every change.
func (c *Console) session(ctx *gin.Context) {
	ctx.Header("Cache-Control", "no-store")
	s, found, err := c.sessions.FromRequest(ctx.Request)
	if err != nil {
		c.d.Logger.Error("console: reading the session failed", "error", err)
		ctx.JSON(http.StatusServiceUnavailable, gin.H{"success": false, "error": gin.H{"code": "service_unavailable", "message": "the session store is unavailable; retry later"}})
		return
	}
	if !found {
		ctx.JSON(http.StatusUnauthorized, gin.H{"success": false, "error": gin.H{"code": "invalid_token", "message": "not signed in"}})
		return
	}
	ctx.JSON(http.StatusOK, gin.H{"success": true, "data": gin.H{"user_id": s.UserID, "permissions": s.Permissions,
		"csrf_token": s.CSRFToken, "expires_at": s.ExpiresAt.UTC(), "language": language(ctx.Request)}})
}

func (c *Console) setCookie(ctx *gin.Context, value string, expires time.Time) {
	r := ctx.Request
	secure := r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
	ck := &http.Cookie{Name: CookieName, Value: value, Path: "/", HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteStrictMode, Expires: expires}
	if value == "" {
		ck.MaxAge = -1
	}
	http.SetCookie(ctx.Writer, ck)
}

// sameOrigin refuses a cross-site form post (login CSRF): a browser sends
// Origin on POST; a request without one (a script, curl) is not a browser's.
func sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host == r.Host
}

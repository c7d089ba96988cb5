package httpapi

import (
	"crypto/subtle"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"

	"github.com/socialops/socialops/adapters/realtime"
	"github.com/socialops/socialops/commands"
	"github.com/socialops/socialops/domain"
)

// What the web console (adapters/console) needs of the JSON API: its session
// cookie accepted in place of a bearer token (with a CSRF token on every
// state-changing request), a WebSocket of thread changes, and accept/close.

// CSRFHeader carries a browser session's CSRF token on state-changing requests.
const CSRFHeader = "X-CSRF-Token"

// errCSRF refuses a state-changing request of a browser session without its CSRF token.
var errCSRF = &domain.Error{Code: "csrf_failed", Message: "a state-changing request of a console session needs its CSRF token in the X-CSRF-Token header"}

// ConsoleSession is a browser's signed-in console session.
type ConsoleSession struct {
	UserID      string
	Permissions []string
	CSRFToken   string
	ExpiresAt   time.Time
}

// ConsoleSessions resolves the web console's session cookie.
type ConsoleSessions interface {
	// FromRequest returns the session the request's cookie names; found is
	// false when it names none that is current (no cookie, an unknown one,
	// expired or signed out).
	FromRequest(r *http.Request) (s ConsoleSession, found bool, err error)
}

// browserSession authenticates a request by its console session cookie. It
// returns nil, true when the request has none (or sends an Authorization
// header, which wins), the session's claims and true when it is current, and
// false when it has answered (a store error, or a missing CSRF token).
func (h *handlers) browserSession(c *gin.Context) (*consoleClaims, bool) {
	if h.ConsoleSessions == nil || c.GetHeader("Authorization") != "" {
		return nil, true
	}
	s, found, err := h.ConsoleSessions.FromRequest(c.Request)
	if err != nil {
		writeError(c, h.Logger, err)
		return nil, false
	}
	if !found {
		return nil, true
	}
	switch c.Request.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		if subtle.ConstantTimeCompare([]byte(c.GetHeader(CSRFHeader)), []byte(s.CSRFToken)) != 1 || s.CSRFToken == "" {
			writeError(c, h.Logger, errCSRF)
			return nil, false
		}
	}
	return &consoleClaims{Permissions: s.Permissions, RegisteredClaims: jwt.RegisteredClaims{Subject: s.UserID}}, true
}

// registerConsoleWeb mounts the console's own routes of the JSON API.
func (h *handlers) registerConsoleWeb(console *gin.RouterGroup, read, manage func(gin.HandlerFunc) []gin.HandlerFunc) {
	console.GET("/:alias/ws", read(h.consoleSocket)...)
	console.POST("/:alias/threads/:thread_id/accept", manage(h.consoleAccept)...)
	console.POST("/:alias/threads/:thread_id/close", manage(h.consoleClose)...)
	console.GET("/:alias/threads/:thread_id/contact", read(h.threadContact)...)
}

// consoleSocket serves GET /console/socialops/:alias/ws: a "changed" frame
// for every event of a thread of the instance, resumable with ?since=.
func (h *handlers) consoleSocket(c *gin.Context) {
	if h.Hub == nil {
		writeError(c, h.Logger, errRealtimeDisabled)
		return
	}
	h.serveSocket(c, realtime.Client{Instance: instanceOf(c), Protocol: realtime.ProtocolConsole})
}

// consoleAccept serves POST …/threads/:thread_id/accept {"operator_id": N}:
// the operator takes the pending session (seed 003's accept).
func (h *handlers) consoleAccept(c *gin.Context) {
	var body struct {
		OperatorID *int64 `json:"operator_id"`
	}
	if err := decodeBody(c, 4<<10, &body); err != nil {
		writeError(c, h.Logger, err)
		return
	}
	if body.OperatorID == nil {
		writeError(c, h.Logger, domain.Errorf(domain.ErrMissingField, "operator_id is required: the operator who takes the session"))
		return
	}
	if *body.OperatorID <= 0 {
		writeError(c, h.Logger, domain.Errorf(domain.ErrInvalidField, "operator_id must be a positive operator id"))
		return
	}
	threadID, valid := h.consoleThread(c)
	if !valid {
		return
	}
	res, err := h.Commands.AcceptSession(c.Request.Context(), commands.AcceptSession{
		Instance: instanceOf(c), ThreadID: threadID, OperatorID: *body.OperatorID, Context: h.commandContext(c)})
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	writePosition(c, res.Position)
	ok(c, http.StatusOK, gin.H{"thread_id": threadID, "session_state": res.State.SessionStatus(), "operator_id": *body.OperatorID})
}

// consoleClose serves POST …/threads/:thread_id/close: the session ends
// (seed 003's close) and the thread is resolved.
func (h *handlers) consoleClose(c *gin.Context) {
	threadID, valid := h.consoleThread(c)
	if !valid {
		return
	}
	res, err := h.Commands.CloseSession(c.Request.Context(), commands.CloseSession{
		Instance: instanceOf(c), ThreadID: threadID, Context: h.commandContext(c)})
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	writePosition(c, res.Position)
	ok(c, http.StatusOK, gin.H{"thread_id": threadID, "session_state": res.State.SessionStatus()})
}

func (h *handlers) consoleThread(c *gin.Context) (string, bool) {
	if _, valid := threadParam(c); !valid {
		writeError(c, h.Logger, domain.ErrThreadNotFound)
		return "", false
	}
	return h.threadOfInstance(c, instanceOf(c))
}

package httpapi

import (
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

// errInvalidParameter names a query parameter with a bad value.
var errInvalidParameter = &domain.Error{Code: "invalid_parameter", Message: "a query parameter has an invalid value"}

// errPositionAhead is an X-SocialOps-Position no command has returned yet.
var errPositionAhead = &domain.Error{Code: "position_ahead", Message: "X-SocialOps-Position is above the head of the event log"}

// StaleHeader tells that a read-your-writes wait ran out.
const StaleHeader = "X-SocialOps-Stale"

// readYourWrites waits (bounded) until the projectors a query reads have
// reached the position the client sent; the answer is marked stale otherwise.
func (h *handlers) readYourWrites(c *gin.Context, projectors ...string) bool {
	raw := c.GetHeader(PositionHeader)
	if raw == "" {
		return true
	}
	pos, err := strconv.ParseUint(raw, 10, 64)
	if err != nil {
		writeError(c, h.Logger, domain.Errorf(errInvalidParameter, "%s must be a log position returned by a command", PositionHeader))
		return false
	}
	// Most positions are reached already: one look, then the head check, then the wait.
	fresh, err := projections.WaitForPosition(c.Request.Context(), h.Reads, projectors, pos, 0)
	if err == nil && !fresh && h.Head != nil {
		var head uint64
		if head, err = h.Head(c.Request.Context()); err == nil && pos > head {
			writeError(c, h.Logger, domain.Errorf(errPositionAhead, "%s %d is above the head of the event log (%d): send a position a command returned", PositionHeader, pos, head))
			return false
		}
	}
	if err == nil && !fresh {
		fresh, err = projections.WaitForPosition(c.Request.Context(), h.Reads, projectors, pos, h.ReadYourWritesWait)
	}
	if err != nil {
		writeError(c, h.Logger, err)
		return false
	}
	if !fresh {
		c.Header(StaleHeader, "true")
	}
	return true
}

func ok(c *gin.Context, status int, data any) {
	c.JSON(status, gin.H{"success": true, "data": data})
}

// paging reads page and limit (default 20, max 100).
func paging(c *gin.Context) (page, limit int, err error) {
	page, limit = 1, projections.DefaultLimit
	if v, set := c.GetQuery("page"); set {
		page, err = strconv.Atoi(v)
		if err != nil || page < 1 || page > projections.MaxPage {
			return 0, 0, domain.Errorf(errInvalidParameter, "page must be an integer from 1 to %d", projections.MaxPage)
		}
	}
	if v, set := c.GetQuery("limit"); set {
		limit, err = strconv.Atoi(v)
		if err != nil || limit < 1 || limit > projections.MaxLimit {
			return 0, 0, domain.Errorf(errInvalidParameter, "limit must be an integer from 1 to %d", projections.MaxLimit)
		}
	}
	return page, limit, nil
}

// threadFilter reads the inbox filters of seed 000.
func threadFilter(c *gin.Context, instanceID string) (projections.ThreadFilter, error) {
	f := projections.ThreadFilter{InstanceID: instanceID}
	var err error
	if f.Page, f.Limit, err = paging(c); err != nil {
		return f, err
	}
	if v, set := c.GetQuery("status"); set {
		if !domain.ValidStatus(v) {
			return f, domain.Errorf(errInvalidParameter, "status must be one of %s", strings.Join(domain.Statuses, ", "))
		}
		f.Status = v
	}
	if v, set := c.GetQuery("priority"); set {
		if !domain.ValidPriority(v) {
			return f, domain.Errorf(errInvalidParameter, "priority must be one of %s", strings.Join(domain.Priorities, ", "))
		}
		f.Priority = v
	}
	if v, set := c.GetQuery("provider"); set {
		if !threadProviders[v] {
			return f, domain.Errorf(errInvalidParameter, "provider must be one of generic-webhook, telegram, github, wecom, wechat, douyin, jd")
		}
		f.Provider = v
	}
	if v, set := c.GetQuery("q"); set {
		v = strings.TrimSpace(v)
		if v == "" || utf8.RuneCountInString(v) > 200 {
			return f, domain.Errorf(errInvalidParameter, "q must be 1 to 200 characters")
		}
		f.Q = v
	}
	if v, set := c.GetQuery("session_state"); set {
		if !domain.ValidSessionState(v) {
			return f, domain.Errorf(errInvalidParameter, "session_state must be one of %s", strings.Join(domain.SessionStates, ", "))
		}
		f.SessionState = v
	}
	if v, set := c.GetQuery("assignee"); set {
		v = strings.TrimSpace(v)
		if v == "" || utf8.RuneCountInString(v) > 200 || domain.HasControl(v) {
			return f, domain.Errorf(errInvalidParameter, "assignee must be 1 to 200 characters")
		}
		f.Assignee = v
	}
	if v, set := c.GetQuery("cursor"); set {
		cur, err := projections.DecodeCursor(v)
		if err != nil {
			return f, domain.Errorf(errInvalidParameter, "cursor is not one this server returned")
		}
		f.Cursor = &cur
	}
	return f, nil
}

// listThreads serves GET …/inbox and GET …/threads.
func (h *handlers) listThreads(c *gin.Context) {
	inst := instanceOf(c)
	f, err := threadFilter(c, inst.ID)
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	if op, bound := boundOperatorOf(c); bound {
		f.OperatorID = op
	}
	// The rows carry their session's state and operator (the inbox keeps
	// them): the inbox alone answers.
	if !h.readYourWrites(c, projections.InboxProjector{}.Name()) {
		return
	}
	page, err := projections.ListThreads(c.Request.Context(), h.Reads, f)
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	ok(c, http.StatusOK, page)
}

// threadOfInstance answers 404 unless the thread belongs to the instance.
func (h *handlers) threadOfInstance(c *gin.Context, inst domain.Instance) (string, bool) {
	threadID := c.Param("thread_id")
	owner, found, err := projections.ThreadInstance(c.Request.Context(), h.Reads, threadID)
	if err != nil {
		writeError(c, h.Logger, err)
		return "", false
	}
	if !found || owner != inst.ID {
		writeError(c, h.Logger, domain.ErrThreadNotFound)
		return "", false
	}
	return threadID, true
}

// listMessages serves GET …/threads/:thread_id/messages.
func (h *handlers) listMessages(c *gin.Context) {
	inst := instanceOf(c)
	page, limit, err := paging(c)
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	if !h.readYourWrites(c, projections.InboxProjector{}.Name(), projections.MessagesProjector{}.Name()) {
		return
	}
	threadID, found := h.threadOfInstance(c, inst)
	if !found {
		return
	}
	msgs, err := projections.ListMessages(c.Request.Context(), h.Reads, threadID, page, limit)
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	ok(c, http.StatusOK, msgs)
}

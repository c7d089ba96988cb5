package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/socialops/socialops/domain"
)

// Paging of the audit endpoint. Raw payloads make events up to 1 MiB each,
// so a page is bounded by bytes as well as by count: it ends after the event
// that takes it past auditPageBytes (a page always holds at least one event).
const (
	auditDefaultLimit = 100
	auditMaxLimit     = 1000
	auditPageBytes    = 4 << 20
	// auditReadChunk bounds how many events are read from the store at once,
	// so a page of large events is never held twice over in memory.
	auditReadChunk = 16
)

// auditEvent is one event of a thread's history as the audit endpoint shows it.
type auditEvent struct {
	Revision      uint64          `json:"revision"`
	Position      uint64          `json:"position"`
	EventID       string          `json:"event_id"`
	Type          string          `json:"type"`
	Version       int             `json:"version"`
	OccurredAt    time.Time       `json:"occurred_at"`
	Actor         domain.Actor    `json:"actor"`
	CorrelationID string          `json:"correlation_id,omitempty"`
	CausationID   string          `json:"causation_id,omitempty"`
	Data          json.RawMessage `json:"data"`
}

// auditPage is one page of a thread's history. NextAfter is the revision to
// pass as `after` for the next page; it is null on the last page.
type auditPage struct {
	ThreadID  string       `json:"thread_id"`
	Events    []auditEvent `json:"events"`
	HasMore   bool         `json:"has_more"`
	NextAfter *uint64      `json:"next_after"`
}

// threadEvents serves GET …/threads/:thread_id/events?after=&limit= (scope
// socialops:audit): the thread's history from the event log, raw payloads
// included, oldest first, one page at a time.
func (h *handlers) threadEvents(c *gin.Context) {
	inst := instanceOf(c)
	ctx := c.Request.Context()
	threadID := c.Param("thread_id")
	from, limit, err := auditPaging(c)
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	if !strings.HasPrefix(threadID, domain.PrefixThread) {
		writeError(c, h.Logger, domain.ErrThreadNotFound)
		return
	}
	stream := domain.ThreadStream(threadID)
	// The first event says whose thread it is, whatever page is asked for.
	first, err := h.Events.ReadStream(ctx, stream, domain.Forwards, domain.StreamStart, 1)
	if errors.Is(err, domain.ErrStreamNotFound) || (err == nil && len(first) == 0) {
		writeError(c, h.Logger, domain.ErrThreadNotFound)
		return
	}
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	env, err := h.Registry.Decode(first[0])
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	if opened, isOpen := env.Payload.(domain.ThreadOpened); !isOpen || opened.InstanceID != inst.ID {
		writeError(c, h.Logger, domain.ErrThreadNotFound)
		return
	}

	page := auditPage{ThreadID: threadID, Events: []auditEvent{}}
	bytes := 0
	for {
		// One more than the page needs, to tell whether another page follows.
		want := min(uint64(limit-len(page.Events))+1, auditReadChunk)
		evs, err := h.Events.ReadStream(ctx, stream, domain.Forwards, from, want)
		if err != nil && !errors.Is(err, domain.ErrStreamNotFound) {
			writeError(c, h.Logger, err)
			return
		}
		full := false
		for _, raw := range evs {
			if len(page.Events) == limit || (len(page.Events) > 0 && bytes >= auditPageBytes) {
				full = true
				break
			}
			env, err := h.Registry.Decode(raw)
			if err != nil {
				writeError(c, h.Logger, err)
				return
			}
			page.Events = append(page.Events, auditEvent{
				Revision: raw.Revision, Position: raw.Position, EventID: raw.ID, Type: env.Type, Version: env.Version,
				OccurredAt: env.Metadata.OccurredAt, Actor: env.Metadata.Actor,
				CorrelationID: env.Metadata.CorrelationID, CausationID: env.Metadata.CausationID,
				Data: json.RawMessage(raw.Data),
			})
			bytes += len(raw.Data)
		}
		if full {
			page.HasMore = true
			break
		}
		if uint64(len(evs)) < want {
			break // the end of the stream
		}
		from = evs[len(evs)-1].Revision + 1
	}
	if page.HasMore {
		last := page.Events[len(page.Events)-1].Revision
		page.NextAfter = &last
	}
	ok(c, http.StatusOK, page)
}

// auditPaging reads `after` (a revision: the page starts after it; absent
// starts at the first event) and `limit` (default 100, at most 1000).
func auditPaging(c *gin.Context) (from uint64, limit int, err error) {
	from, limit = domain.StreamStart, auditDefaultLimit
	if v, set := c.GetQuery("after"); set {
		after, perr := strconv.ParseUint(v, 10, 63)
		if perr != nil {
			return 0, 0, domain.Errorf(errInvalidParameter, "after must be a revision (an integer from 0) from next_after")
		}
		from = after + 1
	}
	if v, set := c.GetQuery("limit"); set {
		limit, err = strconv.Atoi(v)
		if err != nil || limit < 1 || limit > auditMaxLimit {
			return 0, 0, domain.Errorf(errInvalidParameter, "limit must be an integer from 1 to %d", auditMaxLimit)
		}
	}
	return from, limit, nil
}

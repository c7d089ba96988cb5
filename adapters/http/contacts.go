package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/socialops/socialops/adapters/postgres"
	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

// defaultUnmergeWindow is how long a merge can be undone (Deps.UnmergeWindow).
const defaultUnmergeWindow = 72 * time.Hour

var crmProjectors = []string{projections.CRMProjector{}.Name()}

// registerContacts mounts one customer across channels (issue 16) on the
// API-key face.
func (h *handlers) registerContacts(api *gin.RouterGroup) {
	read, write := h.apiKeyAuth(postgres.ScopeRead), h.apiKeyAuth(postgres.ScopeWrite)
	api.GET("/contacts", read, h.searchContacts)
	api.GET("/contacts/:contact_id", read, h.getContact)
	api.PATCH("/contacts/:contact_id", write, h.patchContact)
	api.GET("/contacts/:contact_id/threads", read, h.contactThreads)
	api.GET("/contacts/:contact_id/history", read, h.contactHistory)
	api.POST("/contacts/:contact_id/merge", write, h.mergeContacts)
	api.POST("/contacts/:contact_id/unmerge", write, h.unmergeContacts)
	api.POST("/contacts/:contact_id/link", write, h.linkCustomer)
	api.GET("/customers/ambiguous", read, h.ambiguousCustomers)
	api.GET("/threads/:thread_id/contact", read, h.threadContact)
}

// searchContacts is GET …/contacts?q=: by name, phone, email or tag.
func (h *handlers) searchContacts(c *gin.Context) {
	q := c.Query("q")
	if len([]rune(q)) > 200 {
		writeError(c, h.Logger, domain.Errorf(errInvalidParameter, "q is at most 200 characters"))
		return
	}
	if !h.readYourWrites(c, crmProjectors...) {
		return
	}
	list, err := projections.SearchContacts(c.Request.Context(), h.Reads, instanceOf(c).ID, q, 50)
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	ok(c, http.StatusOK, gin.H{"contacts": list})
}

// contactPanel is a contact with everything known about them.
type contactPanel struct {
	projections.ContactView
	Identities []projections.Identity    `json:"identities"`
	Merged     []string                  `json:"merged"`
	Customer   *projections.CustomerView `json:"customer"`
	Orders     []projections.OrderView   `json:"orders"`
	Tickets    []projections.TicketView  `json:"tickets"`
}

func (h *handlers) panel(c *gin.Context, contactID, threadID string) (contactPanel, bool) {
	ctx := c.Request.Context()
	inst := instanceOf(c)
	v, found, err := projections.GetContact(ctx, h.Reads, inst.ID, contactID)
	if err == nil && !found {
		err = domain.Errorf(domain.ErrContactNotFound, "no contact %q", contactID)
	}
	if err != nil {
		writeError(c, h.Logger, err)
		return contactPanel{}, false
	}
	p := contactPanel{ContactView: v, Orders: []projections.OrderView{}}
	if p.Identities, err = projections.ContactIdentities(ctx, h.Reads, contactID); err == nil {
		p.Merged, err = projections.MergedContacts(ctx, h.Reads, contactID)
	}
	if err == nil && v.CustomerID != nil {
		var cu projections.CustomerView
		if cu, found, err = projections.GetCustomer(ctx, h.Reads, inst.ID, *v.CustomerID); err == nil && found {
			p.Customer = &cu
			p.Orders, err = projections.OrdersOf(ctx, h.Reads, inst.ID, cu.CustomerID)
		}
	}
	if err == nil {
		p.Tickets, err = projections.TicketsOf(ctx, h.Reads, inst.ID, contactID, threadID)
	}
	if err != nil {
		writeError(c, h.Logger, err)
		return contactPanel{}, false
	}
	return p, true
}

// getContact is GET …/contacts/:contact_id: profile, identities, merged
// contacts, the CRM customer with its orders, tickets.
func (h *handlers) getContact(c *gin.Context) {
	if !h.readYourWrites(c, crmProjectors...) {
		return
	}
	if p, found := h.panel(c, c.Param("contact_id"), ""); found {
		ok(c, http.StatusOK, p)
	}
}

// threadContact is GET …/threads/:thread_id/contact: the contact panel
// beside a thread (its tickets included).
func (h *handlers) threadContact(c *gin.Context) {
	if !h.readYourWrites(c, crmProjectors...) {
		return
	}
	id, found, err := projections.ContactOfThread(c.Request.Context(), h.Reads, instanceOf(c).ID, c.Param("thread_id"))
	if err == nil && !found {
		err = domain.Errorf(domain.ErrThreadNotFound, "no thread %q", c.Param("thread_id"))
	}
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	if p, found := h.panel(c, id, c.Param("thread_id")); found {
		ok(c, http.StatusOK, p)
	}
}

type profileBody struct {
	Name       *string           `json:"name"`
	Phone      *string           `json:"phone"`
	Email      *string           `json:"email"`
	Level      *string           `json:"level"`
	Tags       []string          `json:"tags"`
	Attributes map[string]string `json:"attributes"`
}

// patchContact is PATCH …/contacts/:contact_id: what is sent changes (a
// ContactProfileChanged event with the actor); the same values again
// change nothing.
func (h *handlers) patchContact(c *gin.Context) {
	var b profileBody
	if err := decodeBody(c, 128<<10, &b); err != nil {
		writeError(c, h.Logger, err)
		return
	}
	if !h.contactExists(c, c.Param("contact_id")) {
		return
	}
	pos, _, err := h.Commands.ChangeContact(c.Request.Context(), instanceOf(c).ID, c.Param("contact_id"),
		domain.Profile{Name: b.Name, Phone: b.Phone, Email: b.Email, Level: b.Level, Tags: b.Tags, Attributes: b.Attributes}, h.commandContext(c))
	h.answerContact(c, c.Param("contact_id"), pos, err)
}

func (h *handlers) contactExists(c *gin.Context, id string) bool {
	if !h.readYourWrites(c, crmProjectors...) {
		return false
	}
	_, found, err := projections.GetContact(c.Request.Context(), h.Reads, instanceOf(c).ID, id)
	if err == nil && !found {
		err = domain.Errorf(domain.ErrContactNotFound, "no contact %q", id)
	}
	if err != nil {
		writeError(c, h.Logger, err)
		return false
	}
	return true
}

func (h *handlers) answerContact(c *gin.Context, id string, pos uint64, err error) {
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	writePosition(c, pos)
	if pos > 0 {
		c.Request.Header.Set(PositionHeader, strconv.FormatUint(pos, 10))
		if !h.readYourWrites(c, crmProjectors...) {
			return
		}
	}
	if p, found := h.panel(c, id, ""); found {
		ok(c, http.StatusOK, p)
	}
}

// contactThreads is GET …/contacts/:contact_id/threads: every channel's
// threads of the contact (and of contacts merged into it), newest first.
func (h *handlers) contactThreads(c *gin.Context) {
	if !h.contactExists(c, c.Param("contact_id")) {
		return
	}
	list, err := projections.ContactThreads(c.Request.Context(), h.Reads, instanceOf(c).ID, c.Param("contact_id"), 100)
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	ok(c, http.StatusOK, gin.H{"threads": list})
}

type fromBody struct {
	From string `json:"from"`
}

// mergeContacts is POST …/contacts/:contact_id/merge {"from": id}: a person
// decided the two are one; from's threads, identities and history follow.
func (h *handlers) mergeContacts(c *gin.Context) {
	h.merge(c, true)
}

// unmergeContacts is POST …/contacts/:contact_id/unmerge {"from": id},
// possible until the merge's unmerge window has passed.
func (h *handlers) unmergeContacts(c *gin.Context) {
	h.merge(c, false)
}

func (h *handlers) merge(c *gin.Context, merge bool) {
	var b fromBody
	if err := decodeBody(c, 4<<10, &b); err != nil {
		writeError(c, h.Logger, err)
		return
	}
	if strings.TrimSpace(b.From) == "" {
		writeError(c, h.Logger, domain.Errorf(domain.ErrMissingField, "from is required: the contact to merge"))
		return
	}
	into := c.Param("contact_id")
	if !h.contactExists(c, into) || !h.contactExists(c, b.From) {
		return
	}
	var pos uint64
	var err error
	if merge {
		window := h.UnmergeWindow
		if window <= 0 {
			window = defaultUnmergeWindow
		}
		pos, err = h.Commands.MergeContacts(c.Request.Context(), instanceOf(c).ID, into, b.From, window, h.commandContext(c))
	} else {
		pos, err = h.Commands.UnmergeContacts(c.Request.Context(), instanceOf(c).ID, into, b.From, h.commandContext(c))
	}
	h.answerContact(c, into, pos, err)
}

type linkBody struct {
	CustomerID string `json:"customer_id"`
}

// linkCustomer is POST …/contacts/:contact_id/link {"customer_id"}: a
// person decides which contact an ambiguous CRM customer is.
func (h *handlers) linkCustomer(c *gin.Context) {
	var b linkBody
	if err := decodeBody(c, 4<<10, &b); err != nil {
		writeError(c, h.Logger, err)
		return
	}
	if !h.contactExists(c, c.Param("contact_id")) {
		return
	}
	pos, err := h.Commands.LinkCustomer(c.Request.Context(), instanceOf(c).ID, b.CustomerID, []string{c.Param("contact_id")}, "person", h.commandContext(c))
	h.answerContact(c, c.Param("contact_id"), pos, err)
}

// ambiguousCustomers is GET …/customers/ambiguous: CRM customers whose
// phone or email names several contacts, waiting for a person.
func (h *handlers) ambiguousCustomers(c *gin.Context) {
	if !h.readYourWrites(c, crmProjectors...) {
		return
	}
	list, err := projections.AmbiguousCustomers(c.Request.Context(), h.Reads, instanceOf(c).ID)
	if err != nil {
		writeError(c, h.Logger, err)
		return
	}
	ok(c, http.StatusOK, gin.H{"customers": list})
}

// historyEntry is one change of a contact, as its stream records it.
type historyEntry struct {
	Type       string       `json:"type"`
	OccurredAt time.Time    `json:"occurred_at"`
	Actor      domain.Actor `json:"actor"`
	Data       any          `json:"data"`
}

// contactHistory is GET …/contacts/:contact_id/history: every profile
// change, merge and unmerge of the contact, oldest first, with its actor.
func (h *handlers) contactHistory(c *gin.Context) {
	if !h.contactExists(c, c.Param("contact_id")) {
		return
	}
	raw, err := h.Events.ReadStream(c.Request.Context(), domain.ContactStream(c.Param("contact_id")), domain.Forwards, domain.StreamStart, 1000)
	if err != nil && !errors.Is(err, domain.ErrStreamNotFound) {
		writeError(c, h.Logger, err)
		return
	}
	out := make([]historyEntry, 0, len(raw))
	for _, r := range raw {
		env, err := h.Registry.Decode(r)
		if err != nil {
			writeError(c, h.Logger, err)
			return
		}
		out = append(out, historyEntry{Type: env.Type, OccurredAt: env.Metadata.OccurredAt.UTC(), Actor: env.Metadata.Actor, Data: env.Payload})
	}
	ok(c, http.StatusOK, gin.H{"history": out})
}

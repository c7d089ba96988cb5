package integration

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/socialops/socialops/adapters/postgres"
	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

// Seed 002 §4 (第三方系统集成): CRM customers, orders and tickets.

var crmProjectors = []string{projections.CRMProjector{}.Name()}

// registerCRM mounts the CRM, order and ticket resources.
func (d Deps) registerCRM(g *gin.RouterGroup) {
	read, write := d.Auth(postgres.ScopeRead), d.Auth(postgres.ScopeWrite)
	g.POST("/api/v1/customers", write, d.upsertCustomers)
	g.GET("/api/v1/customers/:customer_id", read, d.getCustomer)
	g.PUT("/api/v1/customers/:customer_id", write, d.putCustomer)
	g.POST("/api/v1/orders", write, d.upsertOrder)
	g.POST("/api/v1/tickets", write, d.createTicket)
	g.PUT("/api/v1/tickets/:ticket_id", write, d.syncTicket)
}

// customerIn is seed 002's CRM shape (email is ours, optional).
type customerIn struct {
	CustomerID string   `json:"customer_id"`
	Name       string   `json:"name"`
	Phone      string   `json:"phone"`
	Email      string   `json:"email"`
	Level      string   `json:"level"`
	Tags       []string `json:"tags"`
}

type customerOut struct {
	CustomerID string   `json:"customer_id"`
	Changed    bool     `json:"changed"`
	ContactID  *string  `json:"contact_id"`
	Candidates []string `json:"candidates"`
}

// upsertCustomers is POST /api/v1/customers: one record, or
// {"customers":[…]} with up to 1,000. Each is stored when it changed, then
// linked to the contact its phone or email names; several candidates are
// listed for a person (GET …/customers/ambiguous), never merged. The same
// batch again changes nothing. A bad record refuses the whole batch.
func (d Deps) upsertCustomers(c *gin.Context) {
	var raw json.RawMessage
	if err := d.Decode(c, 4<<20, &raw); err != nil {
		d.WriteError(c, err)
		return
	}
	var records []customerIn
	if trimmed := bytes.TrimSpace(raw); len(trimmed) > 0 && bytes.Contains(trimmed[:min(len(trimmed), 64)], []byte(`"customers"`)) {
		var batch struct {
			Customers []customerIn `json:"customers"`
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&batch); err != nil {
			d.WriteError(c, domain.Errorf(domain.ErrInvalidField, "customers: %v", err))
			return
		}
		records = batch.Customers
		if len(records) == 0 || len(records) > domain.MaxCRMBatch {
			d.WriteError(c, domain.Errorf(domain.ErrInvalidField, "customers holds 1 to %d records", domain.MaxCRMBatch))
			return
		}
	} else {
		var one customerIn
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&one); err != nil {
			d.WriteError(c, domain.Errorf(domain.ErrInvalidField, "%v", err))
			return
		}
		records = []customerIn{one}
	}
	d.storeCustomers(c, records)
}

// putCustomer is PUT /api/v1/customers/{customer_id}: one record.
func (d Deps) putCustomer(c *gin.Context) {
	var one customerIn
	if err := d.Decode(c, 64<<10, &one); err != nil {
		d.WriteError(c, err)
		return
	}
	if one.CustomerID != "" && one.CustomerID != c.Param("customer_id") {
		d.WriteError(c, domain.Errorf(domain.ErrInvalidField, "customer_id in the body differs from the path"))
		return
	}
	one.CustomerID = c.Param("customer_id")
	d.storeCustomers(c, []customerIn{one})
}

func (d Deps) storeCustomers(c *gin.Context, records []customerIn) {
	inst := d.Instance(c)
	// Every record is checked before any is stored.
	clean := make([]domain.CustomerUpserted, len(records))
	seen := map[string]bool{}
	for i, r := range records {
		cr, err := domain.CleanCustomer(domain.CustomerUpserted{InstanceID: inst.ID, CustomerID: r.CustomerID, Name: r.Name,
			Phone: r.Phone, Email: r.Email, Level: r.Level, Tags: r.Tags})
		if err != nil {
			d.WriteError(c, domain.Errorf(domain.ErrInvalidField, "customers[%d]: %s", i, errMessage(err)))
			return
		}
		if seen[cr.CustomerID] {
			d.WriteError(c, domain.Errorf(domain.ErrInvalidField, "customers[%d]: customer_id %q twice in the batch", i, cr.CustomerID))
			return
		}
		seen[cr.CustomerID] = true
		clean[i] = cr
	}
	ctx := c.Request.Context()
	cc := d.Context(c)
	var last uint64
	out := make([]customerOut, 0, len(clean))
	for _, r := range clean {
		_, changed, pos, err := d.Commands.UpsertCustomer(ctx, r, cc)
		if err != nil {
			d.WriteError(c, err)
			return
		}
		last = max(last, pos)
		out = append(out, customerOut{CustomerID: r.CustomerID, Changed: changed})
	}
	// Linking reads the contacts' profiles: wait for what was written.
	if !d.waitCRM(c, last) {
		return
	}
	for i, r := range clean {
		st, err := d.Commands.Customer(ctx, inst.ID, r.CustomerID)
		if err != nil {
			d.WriteError(c, err)
			return
		}
		candidates := []string{}
		by := "phone"
		if st.ContactID != "" {
			candidates = []string{st.ContactID}
			by = "existing"
		} else {
			found, err := projections.MatchContacts(ctx, d.Reads, inst.ID, r.Phone, r.Email)
			if err != nil {
				d.WriteError(c, err)
				return
			}
			candidates = found
			if r.Phone == "" {
				by = "email"
			}
		}
		pos, err := d.Commands.LinkCustomer(ctx, inst.ID, r.CustomerID, candidates, by, cc)
		if err != nil {
			d.WriteError(c, err)
			return
		}
		last = max(last, pos)
		if len(candidates) == 1 {
			out[i].ContactID = &candidates[0]
			out[i].Candidates = []string{}
		} else {
			out[i].Candidates = candidates
		}
	}
	d.Position(c, last)
	ok(c, http.StatusOK, gin.H{"customers": out})
}

func errMessage(err error) string {
	if de, isDomain := err.(*domain.Error); isDomain {
		return de.Message
	}
	return err.Error()
}

// waitCRM makes the crm read model hold everything up to pos.
func (d Deps) waitCRM(c *gin.Context, pos uint64) bool {
	if pos == 0 {
		return true
	}
	c.Request.Header.Set("X-SocialOps-Position", strconv.FormatUint(pos, 10))
	return d.ReadYourWrites(c, crmProjectors...)
}

// getCustomer is GET /api/v1/customers/{customer_id}, with the contact it
// is linked to (or the candidates) and its orders.
func (d Deps) getCustomer(c *gin.Context) {
	if !d.ReadYourWrites(c, crmProjectors...) {
		return
	}
	inst := d.Instance(c)
	cu, found, err := projections.GetCustomer(c.Request.Context(), d.Reads, inst.ID, c.Param("customer_id"))
	if err == nil && !found {
		err = domain.Errorf(domain.ErrCustomerNotFound, "no CRM customer %q", c.Param("customer_id"))
	}
	if err != nil {
		d.WriteError(c, err)
		return
	}
	orders, err := projections.OrdersOf(c.Request.Context(), d.Reads, inst.ID, cu.CustomerID)
	if err != nil {
		d.WriteError(c, err)
		return
	}
	ok(c, http.StatusOK, gin.H{"customer": cu, "orders": orders})
}

type orderIn struct {
	OrderID    string  `json:"order_id"`
	CustomerID string  `json:"customer_id"`
	Amount     *int64  `json:"amount"`
	Currency   string  `json:"currency"`
	Status     string  `json:"status"`
	CreateTime *string `json:"create_time"`
}

// upsertOrder is POST /api/v1/orders (seed 002 §4.1): stored by order_id
// when it changed; amount in the currency's minor units (ISO 4217 code).
func (d Deps) upsertOrder(c *gin.Context) {
	var o orderIn
	if err := d.Decode(c, 64<<10, &o); err != nil {
		d.WriteError(c, err)
		return
	}
	inst := d.Instance(c)
	ev, err := o.check(inst.ID)
	if err != nil {
		d.WriteError(c, err)
		return
	}
	changed, pos, err := d.Commands.UpsertOrder(c.Request.Context(), ev, d.Context(c))
	if err != nil {
		d.WriteError(c, err)
		return
	}
	d.Position(c, pos)
	ok(c, http.StatusOK, gin.H{"order": projections.OrderView{OrderID: ev.OrderID, CustomerID: ev.CustomerID, Amount: ev.Amount,
		Currency: ev.Currency, Status: ev.Status, CreateTime: ev.CreateTime}, "changed": changed})
}

func (o orderIn) check(instanceID string) (domain.OrderUpserted, error) {
	e := domain.OrderUpserted{InstanceID: instanceID}
	var err error
	if e.OrderID, err = requiredLine("order_id", o.OrderID, 128); err != nil {
		return e, err
	}
	if e.CustomerID, err = requiredLine("customer_id", o.CustomerID, 128); err != nil {
		return e, err
	}
	if o.Amount == nil {
		return e, domain.Errorf(domain.ErrMissingField, "amount is required (in the currency's minor units)")
	}
	if *o.Amount < 0 {
		return e, domain.Errorf(domain.ErrInvalidField, "amount is not negative")
	}
	e.Amount = *o.Amount
	e.Currency = strings.ToUpper(strings.TrimSpace(o.Currency))
	if len(e.Currency) != 3 || strings.Trim(e.Currency, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		return e, domain.Errorf(domain.ErrInvalidField, "currency is an ISO 4217 code such as CNY or USD")
	}
	if e.Status, err = requiredLine("status", o.Status, 50); err != nil {
		return e, err
	}
	if o.CreateTime == nil {
		return e, domain.Errorf(domain.ErrMissingField, "create_time is required (RFC 3339)")
	}
	t, err := time.Parse(time.RFC3339, *o.CreateTime)
	if err != nil {
		return e, domain.Errorf(domain.ErrInvalidField, "create_time is an RFC 3339 time such as 2026-12-01T10:00:00Z")
	}
	e.CreateTime = t.UTC()
	return e, nil
}

func requiredLine(field, v string, max int) (string, error) {
	s, err := domain.CleanLine(field, v, max)
	if err != nil {
		return "", err
	}
	if s == "" {
		return "", domain.Errorf(domain.ErrMissingField, "%s is required", field)
	}
	return s, nil
}

type ticketIn struct {
	TicketID       string `json:"ticket_id"`
	ConversationID string `json:"conversation_id"`
	CustomerID     string `json:"customer_id"`
	Title          string `json:"title"`
	Content        string `json:"content"`
	Priority       string `json:"priority"`
	Category       string `json:"category"`
}

// createTicket is POST /api/v1/tickets (seed 002 §4.2): a ticket for a
// conversation and its contact, or a CRM customer. Without ticket_id one is
// made. The same ticket_id again answers the ticket and stores nothing.
func (d Deps) createTicket(c *gin.Context) {
	var in ticketIn
	if err := d.Decode(c, 256<<10, &in); err != nil {
		d.WriteError(c, err)
		return
	}
	inst := d.Instance(c)
	ctx := c.Request.Context()
	t := domain.TicketCreated{InstanceID: inst.ID, Status: "open", Actor: d.Context(c).Actor}
	var err error
	if t.Title, err = requiredLine("title", in.Title, 200); err == nil {
		t.Content, err = domain.CleanText("content", in.Content, 20_000)
	}
	if err == nil {
		t.Priority, err = domain.CleanLine("priority", in.Priority, 20)
	}
	if err == nil {
		t.Category, err = domain.CleanLine("category", in.Category, 100)
	}
	if err == nil && in.TicketID != "" {
		t.TicketID, err = requiredLine("ticket_id", in.TicketID, 128)
	}
	if err == nil && in.ConversationID == "" && in.CustomerID == "" {
		err = domain.Errorf(domain.ErrMissingField, "give conversation_id or customer_id")
	}
	if err != nil {
		d.WriteError(c, err)
		return
	}
	if t.TicketID == "" {
		t.TicketID = domain.RandomID("tk_", domain.CryptoRandom)
	}
	if t.Priority == "" {
		t.Priority = domain.PriorityNormal
	}
	if in.ConversationID != "" {
		if !d.visible(c, in.ConversationID) || !d.ReadYourWrites(c, crmProjectors...) {
			return
		}
		contact, found, err := projections.ContactOfThread(ctx, d.Reads, inst.ID, in.ConversationID)
		if err == nil && !found {
			err = domain.Errorf(domain.ErrThreadNotFound, "no conversation %q", in.ConversationID)
		}
		if err != nil {
			d.WriteError(c, err)
			return
		}
		t.ThreadID, t.ContactID = in.ConversationID, contact
	}
	if in.CustomerID != "" {
		cu, found, err := projections.GetCustomer(ctx, d.Reads, inst.ID, in.CustomerID)
		if err == nil && !found {
			err = domain.Errorf(domain.ErrCustomerNotFound, "no CRM customer %q", in.CustomerID)
		}
		if err != nil {
			d.WriteError(c, err)
			return
		}
		t.CustomerID = cu.CustomerID
		if t.ContactID == "" && cu.ContactID != nil {
			t.ContactID = *cu.ContactID
		}
	}
	st, created, pos, err := d.Commands.CreateTicket(ctx, t, d.Context(c))
	if err != nil {
		d.WriteError(c, err)
		return
	}
	d.Position(c, pos)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	ok(c, status, ticketOf(st))
}

type ticketOut struct {
	TicketID   string  `json:"ticket_id"`
	ThreadID   *string `json:"conversation_id"`
	ContactID  *string `json:"contact_id"`
	CustomerID *string `json:"customer_id"`
	Title      string  `json:"title"`
	Priority   string  `json:"priority"`
	Category   string  `json:"category"`
	Status     string  `json:"status"`
	Handler    string  `json:"handler"`
}

func ticketOf(t domain.Ticket) ticketOut {
	opt := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	return ticketOut{TicketID: t.Created.TicketID, ThreadID: opt(t.Created.ThreadID), ContactID: opt(t.Created.ContactID),
		CustomerID: opt(t.Created.CustomerID), Title: t.Created.Title, Priority: t.Created.Priority, Category: t.Created.Category,
		Status: t.Status, Handler: t.Handler}
}

type ticketSync struct {
	Status     string  `json:"status"`
	Handler    string  `json:"handler"`
	UpdateTime *string `json:"update_time"`
}

// syncTicket is PUT /api/v1/tickets/{ticket_id}: the ticket system's status
// and handler as of update_time. A status it reports again, or an update
// older than the last applied, changes nothing and publishes nothing, so an
// integration echoing our ticket.status_changed back never ping-pongs.
func (d Deps) syncTicket(c *gin.Context) {
	var in ticketSync
	if err := d.Decode(c, 64<<10, &in); err != nil {
		d.WriteError(c, err)
		return
	}
	status, err := requiredLine("status", in.Status, 50)
	var handler string
	if err == nil {
		handler, err = domain.CleanLine("handler", in.Handler, 100)
	}
	at := time.Now().UTC()
	if err == nil && in.UpdateTime != nil {
		t, perr := time.Parse(time.RFC3339, *in.UpdateTime)
		if perr != nil {
			err = domain.Errorf(domain.ErrInvalidField, "update_time is an RFC 3339 time")
		}
		at = t.UTC()
	}
	if err != nil {
		d.WriteError(c, err)
		return
	}
	st, changed, pos, err := d.Commands.SyncTicket(c.Request.Context(), d.Instance(c).ID, c.Param("ticket_id"), status, handler, at, d.Context(c))
	if err != nil {
		d.WriteError(c, err)
		return
	}
	d.Position(c, pos)
	ok(c, http.StatusOK, gin.H{"ticket": ticketOf(st), "changed": changed})
}

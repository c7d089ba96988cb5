package domain

import (
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// One customer across channels (seed 002 §4): a contact's profile, CRM
// records linked to contacts, merges of contacts, orders and tickets. Each
// is an aggregate of its own stream; every change is an event with its actor.

// Errors of contacts, customers, orders and tickets.
var (
	ErrContactMerged    = &Error{Code: "contact_merged", Message: "the contact was merged into another"}
	ErrMergeNotAllowed  = &Error{Code: "merge_not_allowed", Message: "these contacts cannot be merged or unmerged"}
	ErrCustomerNotFound = &Error{Code: "customer_not_found", Message: "no such CRM customer"}
	ErrTicketNotFound   = &Error{Code: "ticket_not_found", Message: "no such ticket"}
)

// Limits of profiles.
const (
	MaxTags          = 50
	MaxTagRunes      = 50
	MaxAttributes    = 50
	MaxAttrKeyRunes  = 64
	MaxAttrValueRune = 1000
	MaxCRMBatch      = 1000
)

// Streams of the CRM aggregates.
func CustomerStream(instanceID, customerID string) string {
	return "customer-" + DerivedID("", instanceID, customerID)
}
func OrderStream(instanceID, orderID string) string {
	return "order-" + DerivedID("", instanceID, orderID)
}
func TicketStream(instanceID, ticketID string) string {
	return "ticket-" + DerivedID("", instanceID, ticketID)
}

// Profile is a contact's profile; a change names only what changes (nil
// fields and a nil map stay as they are).
type Profile struct {
	Name       *string           `json:"name,omitempty"`
	Phone      *string           `json:"phone,omitempty"`
	Email      *string           `json:"email,omitempty"`
	Level      *string           `json:"level,omitempty"`
	Tags       []string          `json:"tags,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
}

// ContactProfileChanged records a profile change (Source: api, crm).
type ContactProfileChanged struct {
	ContactID  string  `json:"contact_id"`
	InstanceID string  `json:"instance_id"`
	Changes    Profile `json:"changes"`
	CustomerID string  `json:"customer_id,omitempty"` // the CRM record the change came from
	Source     string  `json:"source"`
	Actor      Actor   `json:"actor"`
}

func (ContactProfileChanged) EventType() string { return "ContactProfileChanged" }

// ContactsMerged makes From part of Into (recorded on Into's stream and on
// From's): From's threads, identities and history follow Into until an
// unmerge, possible until UnmergeUntil.
type ContactsMerged struct {
	InstanceID   string    `json:"instance_id"`
	Into         string    `json:"into"`
	From         string    `json:"from"`
	UnmergeUntil time.Time `json:"unmerge_until"`
	Actor        Actor     `json:"actor"`
}

func (ContactsMerged) EventType() string { return "ContactsMerged" }

// ContactsUnmerged undoes a merge.
type ContactsUnmerged struct {
	InstanceID string `json:"instance_id"`
	Into       string `json:"into"`
	From       string `json:"from"`
	Actor      Actor  `json:"actor"`
}

func (ContactsUnmerged) EventType() string { return "ContactsUnmerged" }

// Contact is a contact's state (profile and merges).
type Contact struct {
	ID           string
	Version      int64
	InstanceID   string
	Profile      Profile
	MergedInto   string
	UnmergeUntil time.Time
	Merged       map[string]time.Time // contacts merged into this one, with their unmerge deadline
}

// NewContact is the state before the first event.
func NewContact(id string) Contact {
	return Contact{ID: id, Version: -1, Merged: map[string]time.Time{}}
}

// EvolveContact applies one event.
func EvolveContact(c Contact, env Envelope) Contact {
	switch e := env.Payload.(type) {
	case ContactProfileChanged:
		c.InstanceID = e.InstanceID
		c.Profile = applyProfile(c.Profile, e.Changes)
	case ContactsMerged:
		c.InstanceID = e.InstanceID
		if e.From == c.ID {
			c.MergedInto, c.UnmergeUntil = e.Into, e.UnmergeUntil
		} else {
			c.Merged[e.From] = e.UnmergeUntil
		}
	case ContactsUnmerged:
		if e.From == c.ID {
			c.MergedInto = ""
		} else {
			delete(c.Merged, e.From)
		}
	}
	c.Version = int64(env.Raw.Revision)
	return c
}

func applyProfile(p Profile, ch Profile) Profile {
	if ch.Name != nil {
		p.Name = ch.Name
	}
	if ch.Phone != nil {
		p.Phone = ch.Phone
	}
	if ch.Email != nil {
		p.Email = ch.Email
	}
	if ch.Level != nil {
		p.Level = ch.Level
	}
	if ch.Tags != nil {
		p.Tags = ch.Tags
	}
	if ch.Attributes != nil {
		p.Attributes = ch.Attributes
	}
	return p
}

// NormalizePhone keeps a phone number's digits (and a leading +).
func NormalizePhone(s string) string {
	var b strings.Builder
	for i, r := range strings.TrimSpace(s) {
		if r >= '0' && r <= '9' || (r == '+' && i == 0) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// CleanProfile validates a profile change and normalizes it.
func CleanProfile(p Profile) (Profile, error) {
	line := func(field string, v *string, max int) (*string, error) {
		if v == nil {
			return nil, nil
		}
		s, err := CleanLine(field, *v, max)
		return &s, err
	}
	var err error
	if p.Name, err = line("name", p.Name, 100); err != nil {
		return p, err
	}
	if p.Level, err = line("level", p.Level, 50); err != nil {
		return p, err
	}
	if p.Phone != nil {
		ph := NormalizePhone(*p.Phone)
		if *p.Phone != "" && (len(ph) < 5 || len(ph) > 20) {
			return p, Errorf(ErrInvalidField, "phone %q is not a phone number", *p.Phone)
		}
		p.Phone = &ph
	}
	if p.Email != nil {
		e := strings.ToLower(strings.TrimSpace(*p.Email))
		if e != "" && (!strings.Contains(e, "@") || len(e) > 254 || strings.ContainsAny(e, " \t\r\n")) {
			return p, Errorf(ErrInvalidField, "email %q is not an email address", *p.Email)
		}
		p.Email = &e
	}
	if p.Tags != nil {
		if len(p.Tags) > MaxTags {
			return p, Errorf(ErrInvalidField, "at most %d tags", MaxTags)
		}
		clean := []string{}
		for _, t := range p.Tags {
			t, err := CleanLine("tags", t, MaxTagRunes)
			if err != nil {
				return p, err
			}
			if t != "" && !slices.Contains(clean, t) {
				clean = append(clean, t)
			}
		}
		p.Tags = clean
	}
	if p.Attributes != nil {
		if len(p.Attributes) > MaxAttributes {
			return p, Errorf(ErrInvalidField, "at most %d attributes", MaxAttributes)
		}
		for k, v := range p.Attributes {
			if k == "" || utf8.RuneCountInString(k) > MaxAttrKeyRunes || HasControl(k) {
				return p, Errorf(ErrInvalidField, "attribute names are 1 to %d characters", MaxAttrKeyRunes)
			}
			if utf8.RuneCountInString(v) > MaxAttrValueRune || !utf8.ValidString(v) {
				return p, Errorf(ErrInvalidField, "attribute %q is longer than %d characters", k, MaxAttrValueRune)
			}
		}
	}
	return p, nil
}

// DecideProfile returns the change of what really changes (none: nothing).
func DecideProfile(c Contact, instanceID string, ch Profile, source, customerID string, actor Actor) ([]Event, error) {
	if c.Version >= 0 && c.InstanceID != instanceID {
		return nil, Errorf(ErrContactNotFound, "no contact %s", c.ID)
	}
	if c.MergedInto != "" {
		return nil, Errorf(ErrContactMerged, "contact %s was merged into %s: change that one", c.ID, c.MergedInto)
	}
	ch, err := CleanProfile(ch)
	if err != nil {
		return nil, err
	}
	p := c.Profile
	var d Profile
	same := func(a, b *string) bool { return a != nil && b != nil && *a == *b || a == nil && b != nil && *b == "" }
	if ch.Name != nil && !same(p.Name, ch.Name) {
		d.Name = ch.Name
	}
	if ch.Phone != nil && !same(p.Phone, ch.Phone) {
		d.Phone = ch.Phone
	}
	if ch.Email != nil && !same(p.Email, ch.Email) {
		d.Email = ch.Email
	}
	if ch.Level != nil && !same(p.Level, ch.Level) {
		d.Level = ch.Level
	}
	if ch.Tags != nil && !slices.Equal(p.Tags, ch.Tags) && !(len(p.Tags) == 0 && len(ch.Tags) == 0) {
		d.Tags = ch.Tags
	}
	if ch.Attributes != nil && !mapsEqual(p.Attributes, ch.Attributes) {
		d.Attributes = ch.Attributes
	}
	if d.Name == nil && d.Phone == nil && d.Email == nil && d.Level == nil && d.Tags == nil && d.Attributes == nil {
		return nil, nil
	}
	return []Event{ContactProfileChanged{ContactID: c.ID, InstanceID: instanceID, Changes: d, Source: source,
		CustomerID: customerID, Actor: actor}}, nil
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// CustomerUpserted records a CRM customer as the CRM sent it.
type CustomerUpserted struct {
	InstanceID string   `json:"instance_id"`
	CustomerID string   `json:"customer_id"`
	Name       string   `json:"name"`
	Phone      string   `json:"phone"`
	Email      string   `json:"email"`
	Level      string   `json:"level"`
	Tags       []string `json:"tags"`
}

func (CustomerUpserted) EventType() string { return "CustomerUpserted" }

// CustomerLinked links a CRM customer to the contact it is (by a matching
// phone or email, or a person's decision).
type CustomerLinked struct {
	InstanceID string `json:"instance_id"`
	CustomerID string `json:"customer_id"`
	ContactID  string `json:"contact_id"`
	By         string `json:"by"` // phone, email, person
	Actor      Actor  `json:"actor"`
}

func (CustomerLinked) EventType() string { return "CustomerLinked" }

// CustomerMatchAmbiguous lists the contacts a CRM customer may be, for a
// person to decide: nothing is merged or linked.
type CustomerMatchAmbiguous struct {
	InstanceID string   `json:"instance_id"`
	CustomerID string   `json:"customer_id"`
	Candidates []string `json:"candidates"`
}

func (CustomerMatchAmbiguous) EventType() string { return "CustomerMatchAmbiguous" }

// Customer is a CRM customer's state.
type Customer struct {
	Version    int64
	Record     CustomerUpserted
	ContactID  string
	Candidates []string
}

// EvolveCustomer applies one event.
func EvolveCustomer(c Customer, env Envelope) Customer {
	switch e := env.Payload.(type) {
	case CustomerUpserted:
		c.Record = e
	case CustomerLinked:
		c.ContactID, c.Candidates = e.ContactID, nil
	case CustomerMatchAmbiguous:
		c.Candidates = e.Candidates
	}
	c.Version = int64(env.Raw.Revision)
	return c
}

// CleanCustomer validates a CRM record (seed 002's shape).
func CleanCustomer(r CustomerUpserted) (CustomerUpserted, error) {
	id, err := CleanLine("customer_id", r.CustomerID, 128)
	if err != nil {
		return r, err
	}
	if id == "" {
		return r, Errorf(ErrMissingField, "customer_id is required")
	}
	r.CustomerID = id
	p, err := CleanProfile(Profile{Name: &r.Name, Phone: &r.Phone, Email: &r.Email, Level: &r.Level, Tags: r.Tags})
	if err != nil {
		return r, err
	}
	r.Name, r.Phone, r.Email, r.Level, r.Tags = *p.Name, *p.Phone, *p.Email, *p.Level, p.Tags
	if r.Tags == nil {
		r.Tags = []string{}
	}
	return r, nil
}

// DecideCustomerUpsert returns the upsert when the record differs from the
// stored one (the same batch twice changes nothing the second time).
func DecideCustomerUpsert(c Customer, r CustomerUpserted) []Event {
	if c.Version >= 0 && c.Record.Name == r.Name && c.Record.Phone == r.Phone && c.Record.Email == r.Email &&
		c.Record.Level == r.Level && slices.Equal(c.Record.Tags, r.Tags) {
		return nil
	}
	return []Event{r}
}

// OrderUpserted records an order from the order system (seed 002 §4.1);
// Amount is in the currency's minor units.
type OrderUpserted struct {
	InstanceID string    `json:"instance_id"`
	OrderID    string    `json:"order_id"`
	CustomerID string    `json:"customer_id"`
	Amount     int64     `json:"amount"`
	Currency   string    `json:"currency"`
	Status     string    `json:"status"`
	CreateTime time.Time `json:"create_time"`
}

func (OrderUpserted) EventType() string { return "OrderUpserted" }

// DecideOrderUpsert returns the upsert when the order changed.
func DecideOrderUpsert(prev *OrderUpserted, o OrderUpserted) []Event {
	if prev != nil && *prev == o {
		return nil
	}
	return []Event{o}
}

// TicketCreated opens a ticket (seed 002 §4.2) for a thread and its contact.
type TicketCreated struct {
	InstanceID string `json:"instance_id"`
	TicketID   string `json:"ticket_id"`
	ThreadID   string `json:"thread_id,omitempty"`
	ContactID  string `json:"contact_id,omitempty"`
	CustomerID string `json:"customer_id,omitempty"`
	Title      string `json:"title"`
	Content    string `json:"content"`
	Priority   string `json:"priority"`
	Category   string `json:"category"`
	Status     string `json:"status"`
	Actor      Actor  `json:"actor"`
}

func (TicketCreated) EventType() string { return "TicketCreated" }

// TicketStatusChanged records a ticket's new status (and handler), as the
// ticket system reported it at UpdateTime.
type TicketStatusChanged struct {
	InstanceID string    `json:"instance_id"`
	TicketID   string    `json:"ticket_id"`
	ThreadID   string    `json:"thread_id,omitempty"`
	From       string    `json:"from"`
	To         string    `json:"to"`
	Handler    string    `json:"handler"`
	UpdateTime time.Time `json:"update_time"`
	Actor      Actor     `json:"actor"`
}

func (TicketStatusChanged) EventType() string { return "TicketStatusChanged" }

// Ticket is a ticket's state.
type Ticket struct {
	Version    int64
	Created    TicketCreated
	Status     string
	Handler    string
	UpdateTime time.Time
}

// EvolveTicket applies one event.
func EvolveTicket(t Ticket, env Envelope) Ticket {
	switch e := env.Payload.(type) {
	case TicketCreated:
		t.Created, t.Status = e, e.Status
	case TicketStatusChanged:
		t.Status, t.Handler, t.UpdateTime = e.To, e.Handler, e.UpdateTime
	}
	t.Version = int64(env.Raw.Revision)
	return t
}

// DecideTicketSync applies a status sync from the ticket system: a change
// it reports again, or one older than the last applied, changes nothing —
// so a loop between the two systems never ping-pongs a change.
func DecideTicketSync(t Ticket, status, handler string, at time.Time, actor Actor) ([]Event, error) {
	if t.Version < 0 {
		return nil, ErrTicketNotFound
	}
	if (status == t.Status && handler == t.Handler) || (!t.UpdateTime.IsZero() && at.Before(t.UpdateTime)) {
		return nil, nil
	}
	return []Event{TicketStatusChanged{InstanceID: t.Created.InstanceID, TicketID: t.Created.TicketID, ThreadID: t.Created.ThreadID,
		From: t.Status, To: status, Handler: handler, UpdateTime: at, Actor: actor}}, nil
}

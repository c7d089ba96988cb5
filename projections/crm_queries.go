package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/socialops/socialops/domain"
)

// ContactView is a contact with its profile.
type ContactView struct {
	ContactID   string            `json:"contact_id"`
	DisplayName string            `json:"display_name"`
	Name        string            `json:"name"`
	Phone       string            `json:"phone"`
	Email       string            `json:"email"`
	Level       string            `json:"level"`
	Tags        []string          `json:"tags"`
	Attributes  map[string]string `json:"attributes"`
	CustomerID  *string           `json:"customer_id"`
	MergedInto  *string           `json:"merged_into"`
	UpdatedAt   time.Time         `json:"updated_at"`
}

// Identity is who a contact is on a provider.
type Identity struct {
	Provider   string `json:"provider"`
	ExternalID string `json:"external_id"`
}

// OrderView is an order.
type OrderView struct {
	OrderID    string    `json:"order_id"`
	CustomerID string    `json:"customer_id"`
	Amount     int64     `json:"amount"`
	Currency   string    `json:"currency"`
	Status     string    `json:"status"`
	CreateTime time.Time `json:"create_time"`
}

// TicketView is a ticket.
type TicketView struct {
	TicketID   string    `json:"ticket_id"`
	ThreadID   *string   `json:"thread_id"`
	ContactID  *string   `json:"contact_id"`
	CustomerID *string   `json:"customer_id"`
	Title      string    `json:"title"`
	Content    string    `json:"content"`
	Priority   string    `json:"priority"`
	Category   string    `json:"category"`
	Status     string    `json:"status"`
	Handler    string    `json:"handler"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// CustomerView is a CRM customer as stored, with its link.
type CustomerView struct {
	CustomerID string   `json:"customer_id"`
	Name       string   `json:"name"`
	Phone      string   `json:"phone"`
	Email      string   `json:"email"`
	Level      string   `json:"level"`
	Tags       []string `json:"tags"`
	ContactID  *string  `json:"contact_id"`
	Candidates []string `json:"candidates"`
}

const contactColumns = `contact_id, display_name, name, phone, email, level, tags, attributes, customer_id, merged_into, updated_at`

func scanContact(r pgx.Row) (ContactView, error) {
	var c ContactView
	var attrs []byte
	err := r.Scan(&c.ContactID, &c.DisplayName, &c.Name, &c.Phone, &c.Email, &c.Level, &c.Tags, &attrs, &c.CustomerID, &c.MergedInto, &c.UpdatedAt)
	if err != nil {
		return c, err
	}
	c.Attributes = map[string]string{}
	_ = json.Unmarshal(attrs, &c.Attributes)
	if c.Tags == nil {
		c.Tags = []string{}
	}
	c.UpdatedAt = c.UpdatedAt.UTC()
	return c, nil
}

// SearchContacts finds an instance's contacts (not merged ones), newest
// first: a query with an @ by its email (exact), a phone number by its
// digits (with or without the country code), any other by a substring of
// the name, display name, phone or email (case-insensitive) or a tag.
func SearchContacts(ctx context.Context, q Querier, instanceID, query string, limit int) ([]ContactView, error) {
	if limit <= 0 || limit > MaxLimit {
		limit = DefaultLimit
	}
	query = strings.TrimSpace(query)
	where, args := `instance_id = $1 AND merged_into IS NULL`, []any{instanceID}
	switch phone := domain.NormalizePhone(query); {
	case query == "":
	case strings.Contains(query, "@"):
		args = append(args, strings.ToLower(query))
		where += ` AND email = $2`
	case len(phone) >= 5 && len(phone) >= len(strings.Join(strings.Fields(query), ""))-3:
		// A phone number, however written: the number itself (an index
		// lookup), else its digits anywhere in a stored number (written
		// with a country code, or without).
		exact, err := searchContacts(ctx, q, where+` AND phone = $2`, append(args, phone), limit)
		if err != nil || len(exact) > 0 {
			return exact, err
		}
		args = append(args, likePattern(strings.TrimPrefix(phone, "+")))
		where += ` AND search LIKE $2`
	default:
		// Text and tag matches are two index scans, merged here: one OR
		// would make the database gather every match before sorting.
		byText, err := searchContacts(ctx, q, where+` AND search LIKE $2`, append(args, likePattern(query)), limit)
		if err != nil {
			return nil, err
		}
		byTag, err := searchContacts(ctx, q, where+` AND tags @> $2`, append(args, []string{query}), limit)
		if err != nil {
			return nil, err
		}
		return mergeRecent(byText, byTag, limit), nil
	}
	return searchContacts(ctx, q, where, args, limit)
}

func searchContacts(ctx context.Context, q Querier, where string, args []any, limit int) ([]ContactView, error) {
	args = append(args, limit)
	rows, err := q.Query(ctx, `SELECT `+contactColumns+` FROM contact_profiles WHERE `+where+
		fmt.Sprintf(` ORDER BY updated_at DESC, contact_id LIMIT $%d`, len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("search contacts: %w", err)
	}
	return collect(rows, func(r pgx.CollectableRow) (ContactView, error) { return scanContact(r) })
}

// mergeRecent merges two newest-first lists without repeats.
func mergeRecent(a, b []ContactView, limit int) []ContactView {
	out := make([]ContactView, 0, limit)
	seen := map[string]bool{}
	for len(out) < limit && (len(a) > 0 || len(b) > 0) {
		var next ContactView
		if len(b) == 0 || (len(a) > 0 && !a[0].UpdatedAt.Before(b[0].UpdatedAt)) {
			next, a = a[0], a[1:]
		} else {
			next, b = b[0], b[1:]
		}
		if !seen[next.ContactID] {
			seen[next.ContactID] = true
			out = append(out, next)
		}
	}
	return out
}

// GetContact reads one contact of an instance.
func GetContact(ctx context.Context, q Querier, instanceID, contactID string) (ContactView, bool, error) {
	c, err := scanContact(q.QueryRow(ctx, `SELECT `+contactColumns+` FROM contact_profiles WHERE contact_id = $1 AND instance_id = $2`, contactID, instanceID))
	if errors.Is(err, pgx.ErrNoRows) {
		return c, false, nil
	}
	return c, err == nil, err
}

// ContactIdentities are a contact's identities (its merged contacts' too).
func ContactIdentities(ctx context.Context, q Querier, contactID string) ([]Identity, error) {
	rows, err := q.Query(ctx, `SELECT provider, external_id FROM contact_identities WHERE contact_id = $1 ORDER BY provider, external_id`, contactID)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(r pgx.CollectableRow) (Identity, error) {
		var i Identity
		return i, r.Scan(&i.Provider, &i.ExternalID)
	})
}

// MergedContacts are the contacts merged into one.
func MergedContacts(ctx context.Context, q Querier, contactID string) ([]string, error) {
	rows, err := q.Query(ctx, `SELECT contact_id FROM contact_profiles WHERE merged_into = $1 ORDER BY contact_id`, contactID)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(r pgx.CollectableRow) (string, error) {
		var s string
		return s, r.Scan(&s)
	})
}

// ContactThreads are a contact's threads on every channel (its merged
// contacts' too), newest activity first.
func ContactThreads(ctx context.Context, q Querier, instanceID, contactID string, limit int) ([]ThreadView, error) {
	if limit <= 0 || limit > MaxLimit {
		limit = DefaultLimit
	}
	rows, err := q.Query(ctx, `SELECT t.thread_id, t.subject, t.provider, t.status, t.priority, t.assignee, t.labels, t.last_message_preview,
			t.last_message_at, t.message_count, t.ai_summary, t.created_at, t.updated_at, t.session_state, s.operator_id
		FROM crm_threads c JOIN inbox_threads t ON t.thread_id = c.thread_id LEFT JOIN sessions s ON s.thread_id = c.thread_id
		WHERE c.instance_id = $1 AND c.contact_id = $2 ORDER BY t.last_message_at DESC, t.thread_id DESC LIMIT $3`, instanceID, contactID, limit)
	if err != nil {
		return nil, fmt.Errorf("contact threads: %w", err)
	}
	return collect(rows, scanThreadView)
}

// ContactOfThread is the contact a thread shows under.
func ContactOfThread(ctx context.Context, q Querier, instanceID, threadID string) (string, bool, error) {
	var id string
	err := q.QueryRow(ctx, `SELECT contact_id FROM crm_threads WHERE thread_id = $1 AND instance_id = $2`, threadID, instanceID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	return id, err == nil, err
}

// MatchContacts are the contacts (not merged) a phone or an email names.
func MatchContacts(ctx context.Context, q Querier, instanceID, phone, email string) ([]string, error) {
	rows, err := q.Query(ctx, `SELECT contact_id FROM contact_profiles WHERE instance_id = $1 AND merged_into IS NULL
		AND ((phone <> '' AND phone = $2) OR (email <> '' AND email = $3)) ORDER BY contact_id`, instanceID, phone, email)
	if err != nil {
		return nil, fmt.Errorf("match contacts: %w", err)
	}
	return collect(rows, func(r pgx.CollectableRow) (string, error) {
		var s string
		return s, r.Scan(&s)
	})
}

const customerColumns = `customer_id, name, phone, email, level, tags, contact_id, candidates`

func scanCustomer(r pgx.Row) (CustomerView, error) {
	var c CustomerView
	err := r.Scan(&c.CustomerID, &c.Name, &c.Phone, &c.Email, &c.Level, &c.Tags, &c.ContactID, &c.Candidates)
	if c.Tags == nil {
		c.Tags = []string{}
	}
	if c.Candidates == nil {
		c.Candidates = []string{}
	}
	return c, err
}

// GetCustomer reads a CRM customer.
func GetCustomer(ctx context.Context, q Querier, instanceID, customerID string) (CustomerView, bool, error) {
	c, err := scanCustomer(q.QueryRow(ctx, `SELECT `+customerColumns+` FROM crm_customers WHERE instance_id = $1 AND customer_id = $2`, instanceID, customerID))
	if errors.Is(err, pgx.ErrNoRows) {
		return c, false, nil
	}
	return c, err == nil, err
}

// AmbiguousCustomers are the CRM customers waiting for a person to pick
// their contact among several.
func AmbiguousCustomers(ctx context.Context, q Querier, instanceID string) ([]CustomerView, error) {
	rows, err := q.Query(ctx, `SELECT `+customerColumns+` FROM crm_customers WHERE instance_id = $1 AND contact_id IS NULL
		AND cardinality(candidates) > 1 ORDER BY updated_at, customer_id LIMIT 500`, instanceID)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(r pgx.CollectableRow) (CustomerView, error) { return scanCustomer(r) })
}

// OrdersOf are a CRM customer's orders, newest first.
func OrdersOf(ctx context.Context, q Querier, instanceID, customerID string) ([]OrderView, error) {
	rows, err := q.Query(ctx, `SELECT order_id, customer_id, amount, currency, status, create_time FROM orders
		WHERE instance_id = $1 AND customer_id = $2 ORDER BY create_time DESC, order_id LIMIT 100`, instanceID, customerID)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(r pgx.CollectableRow) (OrderView, error) {
		var o OrderView
		err := r.Scan(&o.OrderID, &o.CustomerID, &o.Amount, &o.Currency, &o.Status, &o.CreateTime)
		o.CreateTime = o.CreateTime.UTC()
		return o, err
	})
}

// TicketsOf are a contact's (or a thread's) tickets, newest first.
func TicketsOf(ctx context.Context, q Querier, instanceID, contactID, threadID string) ([]TicketView, error) {
	rows, err := q.Query(ctx, `SELECT ticket_id, thread_id, contact_id, customer_id, title, content, priority, category, status, handler,
			created_at, updated_at FROM tickets WHERE instance_id = $1 AND (contact_id = $2 OR thread_id = $3)
		ORDER BY created_at DESC, ticket_id LIMIT 100`, instanceID, contactID, threadID)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(r pgx.CollectableRow) (TicketView, error) {
		var t TicketView
		err := r.Scan(&t.TicketID, &t.ThreadID, &t.ContactID, &t.CustomerID, &t.Title, &t.Content, &t.Priority, &t.Category,
			&t.Status, &t.Handler, &t.CreatedAt, &t.UpdatedAt)
		t.CreatedAt, t.UpdatedAt = t.CreatedAt.UTC(), t.UpdatedAt.UTC()
		return t, err
	})
}

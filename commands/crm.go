package commands

import (
	"context"
	"time"

	"github.com/socialops/socialops/domain"
)

// ChangeContact changes a contact's profile (only what really changes is
// recorded, with its actor).
func (s *Service) ChangeContact(ctx context.Context, instanceID, contactID string, p domain.Profile, cc Context) (uint64, bool, error) {
	_, events, pos, err := s.onContact(ctx, contactID, cc, func(c domain.Contact) ([]domain.Event, error) {
		return domain.DecideProfile(c, instanceID, p, "api", "", cc.Actor)
	})
	return pos, len(events) > 0, err
}

func (s *Service) onContact(ctx context.Context, contactID string, cc Context, decide func(domain.Contact) ([]domain.Event, error)) (domain.Contact, []domain.Event, uint64, error) {
	stream := domain.ContactStream(contactID)
	return decideAndAppend(ctx, s, stream, cc,
		func() (domain.Contact, int64, error) {
			c, err := load(ctx, s, stream, domain.NewContact(contactID), domain.EvolveContact)
			return c, c.Version, err
		}, decide, nil, nil)
}

// Contact is a contact's state as its stream holds it.
func (s *Service) Contact(ctx context.Context, contactID string) (domain.Contact, error) {
	return load(ctx, s, domain.ContactStream(contactID), domain.NewContact(contactID), domain.EvolveContact)
}

// MergeContacts makes from part of into (a person decided): the merge is
// recorded on from's stream (which then refuses changes and another merge)
// and on into's. An unmerge is possible until unmergeFor has passed.
func (s *Service) MergeContacts(ctx context.Context, instanceID, into, from string, unmergeFor time.Duration, cc Context) (uint64, error) {
	if into == from {
		return 0, domain.Errorf(domain.ErrMergeNotAllowed, "a contact cannot be merged into itself")
	}
	target, err := s.Contact(ctx, into)
	if err != nil {
		return 0, err
	}
	if target.MergedInto != "" {
		return 0, domain.Errorf(domain.ErrMergeNotAllowed, "contact %s was merged into %s: merge into that one", into, target.MergedInto)
	}
	ev := domain.ContactsMerged{InstanceID: instanceID, Into: into, From: from, UnmergeUntil: s.now().Add(unmergeFor).UTC(), Actor: cc.Actor}
	_, events, _, err := s.onContact(ctx, from, cc, func(c domain.Contact) ([]domain.Event, error) {
		switch {
		case c.MergedInto == into:
			return nil, nil // merged already
		case c.MergedInto != "":
			return nil, domain.Errorf(domain.ErrMergeNotAllowed, "contact %s was merged into %s already", from, c.MergedInto)
		case len(c.Merged) > 0:
			return nil, domain.Errorf(domain.ErrMergeNotAllowed, "contact %s has contacts merged into it: merge %s into it instead", from, into)
		}
		return []domain.Event{ev}, nil
	})
	if err != nil || len(events) == 0 {
		return 0, err
	}
	_, _, pos, err := s.onContact(ctx, into, cc, func(c domain.Contact) ([]domain.Event, error) {
		if _, ok := c.Merged[from]; ok {
			return nil, nil
		}
		return []domain.Event{ev}, nil
	})
	return pos, err
}

// UnmergeContacts undoes a merge while its deadline has not passed.
func (s *Service) UnmergeContacts(ctx context.Context, instanceID, into, from string, cc Context) (uint64, error) {
	ev := domain.ContactsUnmerged{InstanceID: instanceID, Into: into, From: from, Actor: cc.Actor}
	_, events, _, err := s.onContact(ctx, from, cc, func(c domain.Contact) ([]domain.Event, error) {
		if c.MergedInto != into {
			return nil, domain.Errorf(domain.ErrMergeNotAllowed, "contact %s is not merged into %s", from, into)
		}
		if s.now().After(c.UnmergeUntil) {
			return nil, domain.Errorf(domain.ErrMergeNotAllowed, "the merge can be undone until %s only", c.UnmergeUntil.Format(time.RFC3339))
		}
		return []domain.Event{ev}, nil
	})
	if err != nil || len(events) == 0 {
		return 0, err
	}
	_, _, pos, err := s.onContact(ctx, into, cc, func(domain.Contact) ([]domain.Event, error) { return []domain.Event{ev}, nil })
	return pos, err
}

// UpsertCustomer stores a CRM record when it differs from the stored one.
func (s *Service) UpsertCustomer(ctx context.Context, r domain.CustomerUpserted, cc Context) (domain.Customer, bool, uint64, error) {
	r, err := domain.CleanCustomer(r)
	if err != nil {
		return domain.Customer{}, false, 0, err
	}
	stream := domain.CustomerStream(r.InstanceID, r.CustomerID)
	st, events, pos, err := decideAndAppend(ctx, s, stream, cc,
		func() (domain.Customer, int64, error) {
			c, err := load(ctx, s, stream, domain.Customer{Version: -1}, domain.EvolveCustomer)
			return c, c.Version, err
		}, func(c domain.Customer) ([]domain.Event, error) { return domain.DecideCustomerUpsert(c, r), nil }, nil, nil)
	if len(events) > 0 {
		st.Record = r
	}
	return st, len(events) > 0, pos, err
}

// Customer is a CRM customer's state.
func (s *Service) Customer(ctx context.Context, instanceID, customerID string) (domain.Customer, error) {
	return load(ctx, s, domain.CustomerStream(instanceID, customerID), domain.Customer{Version: -1}, domain.EvolveCustomer)
}

// LinkCustomer links a CRM customer to a contact: with exactly one
// candidate (or a person's choice) it links and copies the CRM's fields into
// the contact's profile; with several it lists them for a person and links
// nothing. A customer linked already stays as it is unless a person decides.
func (s *Service) LinkCustomer(ctx context.Context, instanceID, customerID string, candidates []string, by string, cc Context) (uint64, error) {
	stream := domain.CustomerStream(instanceID, customerID)
	c, events, pos, err := decideAndAppend(ctx, s, stream, cc,
		func() (domain.Customer, int64, error) {
			c, err := load(ctx, s, stream, domain.Customer{Version: -1}, domain.EvolveCustomer)
			return c, c.Version, err
		}, func(c domain.Customer) ([]domain.Event, error) {
			if c.Version < 0 {
				return nil, domain.Errorf(domain.ErrCustomerNotFound, "no CRM customer %q", customerID)
			}
			switch {
			case by != "person" && c.ContactID != "":
				return nil, nil
			case len(candidates) == 1 && c.ContactID != candidates[0]:
				return []domain.Event{domain.CustomerLinked{InstanceID: instanceID, CustomerID: customerID, ContactID: candidates[0], By: by, Actor: cc.Actor}}, nil
			case len(candidates) > 1 && !equalSets(c.Candidates, candidates):
				return []domain.Event{domain.CustomerMatchAmbiguous{InstanceID: instanceID, CustomerID: customerID, Candidates: candidates}}, nil
			}
			return nil, nil
		}, nil, nil)
	if err != nil || len(candidates) != 1 {
		return pos, err
	}
	linked := len(events) > 0
	if !linked && c.ContactID != candidates[0] {
		return pos, nil
	}
	// The contact takes the CRM's fields (the CRM is the source of them).
	r := c.Record
	p := domain.Profile{Level: &r.Level, Tags: r.Tags}
	if r.Name != "" {
		p.Name = &r.Name
	}
	if r.Phone != "" {
		p.Phone = &r.Phone
	}
	if r.Email != "" {
		p.Email = &r.Email
	}
	_, _, ppos, err := s.onContact(ctx, candidates[0], cc, func(ct domain.Contact) ([]domain.Event, error) {
		return domain.DecideProfile(ct, instanceID, p, "crm", customerID, cc.Actor)
	})
	if ppos > pos {
		pos = ppos
	}
	return pos, err
}

func equalSets(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]bool{}
	for _, x := range a {
		seen[x] = true
	}
	for _, x := range b {
		if !seen[x] {
			return false
		}
	}
	return true
}

// UpsertOrder stores an order when it changed.
func (s *Service) UpsertOrder(ctx context.Context, o domain.OrderUpserted, cc Context) (bool, uint64, error) {
	stream := domain.OrderStream(o.InstanceID, o.OrderID)
	_, events, pos, err := decideAndAppend(ctx, s, stream, cc,
		func() (*domain.OrderUpserted, int64, error) {
			var last *domain.OrderUpserted
			v := int64(-1)
			_, err := load(ctx, s, stream, struct{}{}, func(st struct{}, env domain.Envelope) struct{} {
				if e, ok := env.Payload.(domain.OrderUpserted); ok {
					last = &e
				}
				v = int64(env.Raw.Revision)
				return st
			})
			return last, v, err
		}, func(prev *domain.OrderUpserted) ([]domain.Event, error) {
			return domain.DecideOrderUpsert(prev, o), nil
		}, nil, nil)
	return len(events) > 0, pos, err
}

// CreateTicket opens a ticket; the same ticket id again answers the ticket
// as it is and stores nothing.
func (s *Service) CreateTicket(ctx context.Context, t domain.TicketCreated, cc Context) (domain.Ticket, bool, uint64, error) {
	stream := domain.TicketStream(t.InstanceID, t.TicketID)
	st, events, pos, err := decideAndAppend(ctx, s, stream, cc,
		func() (domain.Ticket, int64, error) {
			tk, err := load(ctx, s, stream, domain.Ticket{Version: -1}, domain.EvolveTicket)
			return tk, tk.Version, err
		}, func(tk domain.Ticket) ([]domain.Event, error) {
			if tk.Version >= 0 {
				return nil, nil
			}
			return []domain.Event{t}, nil
		}, nil, nil)
	if len(events) > 0 {
		st = domain.Ticket{Version: 0, Created: t, Status: t.Status}
	}
	return st, len(events) > 0, pos, err
}

// SyncTicket applies the ticket system's status (domain.DecideTicketSync).
func (s *Service) SyncTicket(ctx context.Context, instanceID, ticketID, status, handler string, at time.Time, cc Context) (domain.Ticket, bool, uint64, error) {
	stream := domain.TicketStream(instanceID, ticketID)
	st, events, pos, err := decideAndAppend(ctx, s, stream, cc,
		func() (domain.Ticket, int64, error) {
			tk, err := load(ctx, s, stream, domain.Ticket{Version: -1}, domain.EvolveTicket)
			return tk, tk.Version, err
		}, func(tk domain.Ticket) ([]domain.Event, error) {
			return domain.DecideTicketSync(tk, status, handler, at, cc.Actor)
		}, nil, nil)
	if len(events) > 0 {
		e := events[0].(domain.TicketStatusChanged)
		st.Status, st.Handler, st.UpdateTime = e.To, e.Handler, e.UpdateTime
	}
	return st, len(events) > 0, pos, err
}

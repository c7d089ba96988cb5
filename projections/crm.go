package projections

import (
	"encoding/json"

	"github.com/jackc/pgx/v5"

	"github.com/socialops/socialops/domain"
)

// CRMProjector keeps one customer across channels (issue 16): contacts'
// profiles and identities (with merges), CRM customers and their links,
// orders and tickets.
type CRMProjector struct{}

func (CRMProjector) Name() string { return "crm" }
func (CRMProjector) Tables() []string {
	return []string{"crm_threads", "contact_profiles", "contact_identities", "crm_customers", "orders", "tickets"}
}

var crmTypes = typesOf(domain.ThreadOpened{}, domain.InboundMessageReceived{}, domain.ContactProfileChanged{},
	domain.ContactsMerged{}, domain.ContactsUnmerged{}, domain.CustomerUpserted{}, domain.CustomerLinked{},
	domain.CustomerMatchAmbiguous{}, domain.OrderUpserted{}, domain.TicketCreated{}, domain.TicketStatusChanged{})

func (CRMProjector) Handles(t string) bool { return crmTypes[t] }

// profileMoves is the condition under which a message writes its contact's
// profile, whose time and display name are before and name: it renames the
// contact (newName, a text) or moves the time on to at by a minute or more.
// The time orders contacts newest first and is in the profile's "recent"
// index, so every move is an update that is not HOT: the row enters every
// index again, the two GIN indexes (search, tags) included. A contact
// writing every few seconds had its profile rewritten for every message; now
// the order is newest first to the minute (issue 21). Changes to the profile
// itself set its time exactly.
func profileMoves(before, name, at, newName string) string {
	return before + ` <= ` + at + ` - interval '1 minute' OR (` + newName + ` <> '' AND ` + newName + ` <> ` + name + `)`
}

// existingMoves is profileMoves in an upsert's ON CONFLICT DO UPDATE.
func existingMoves(at string) string {
	return profileMoves(`contact_profiles.updated_at`, `contact_profiles.display_name`, at, `EXCLUDED.display_name`)
}

// Merge applies a new conversation's opening and first message (adjacent
// among the events the CRM handles) in one statement, with the contact's
// profile written once (issue 21): the rows Apply's two statements would
// leave. The profile's update would write it again, with its search and tag
// indexes (GIN). It merges only when both name the same contact.
func (CRMProjector) Merge(b *pgx.Batch, events []domain.Envelope) (int, error) {
	fw, ok := firstWebhookAt(events) // the CRM does not handle session events: none comes between
	if !ok || fw.session != nil || fw.openedEvent.ContactID == "" || fw.messageEvent.ContactID != fw.openedEvent.ContactID {
		return 0, nil
	}
	o, m := fw.openedEvent, fw.messageEvent
	// Each part reads the tables as they were before the statement, as
	// Apply's statements read them before their own: the link takes the
	// merge of an existing profile, the thread is the link's row (new or
	// there before), and the identity's merge is the existing profile's (a
	// profile the statement creates is not merged).
	queue(b, `WITH link AS (
			INSERT INTO crm_threads (thread_id, instance_id, contact_id, original_contact_id)
			VALUES ($1, $2, coalesce((SELECT merged_into FROM contact_profiles WHERE contact_id = $3), $3), $3) ON CONFLICT DO NOTHING
			RETURNING instance_id),
		thread AS (SELECT instance_id FROM link UNION ALL SELECT instance_id FROM crm_threads WHERE thread_id = $1),
		profile AS (
			INSERT INTO contact_profiles (contact_id, instance_id, display_name, updated_at) VALUES ($3, $2, $5,
				-- A new profile: the opening's, as the message leaves it in Apply's upsert.
				CASE WHEN `+profileMoves(`$4::timestamptz`, `''`, `$6::timestamptz`, `$5`)+` THEN greatest($4::timestamptz, $6::timestamptz) ELSE $4::timestamptz END)
			ON CONFLICT (contact_id) DO UPDATE SET updated_at = greatest(contact_profiles.updated_at, $6),
				display_name = CASE WHEN EXCLUDED.display_name = '' THEN contact_profiles.display_name ELSE EXCLUDED.display_name END
			WHERE `+existingMoves(`$6::timestamptz`)+`)
		INSERT INTO contact_identities (instance_id, provider, external_id, contact_id, original_contact_id)
		SELECT instance_id, $7, $8, coalesce((SELECT merged_into FROM contact_profiles WHERE contact_id = $3), $3), $3
		FROM thread WHERE $8 <> '' ON CONFLICT DO NOTHING`,
		o.ThreadID, o.InstanceID, o.ContactID, occurredAt(fw.opened), m.Sender.DisplayName, occurredAt(fw.message),
		m.Provider, m.Sender.ExternalID)
	return fw.length, nil
}

func (CRMProjector) Apply(b *pgx.Batch, env domain.Envelope) error {
	at := occurredAt(env)
	switch e := env.Payload.(type) {
	case domain.ThreadOpened:
		contact := e.ContactID
		if contact == "" {
			contact = domain.ContactID(e.InstanceID, e.Provider, domain.Sender{}, e.ExternalThreadID)
		}
		// One statement for the thread's link and the contact's profile. Both
		// parts read the tables as they were before it, as two statements in
		// this order did: the link takes the merge of an existing profile, and
		// a new profile is never merged.
		queue(b, `WITH profile AS (
				INSERT INTO contact_profiles (contact_id, instance_id, updated_at) VALUES ($3, $2, $4) ON CONFLICT DO NOTHING)
			INSERT INTO crm_threads (thread_id, instance_id, contact_id, original_contact_id)
			VALUES ($1, $2, coalesce((SELECT merged_into FROM contact_profiles WHERE contact_id = $3), $3), $3) ON CONFLICT DO NOTHING`,
			e.ThreadID, e.InstanceID, contact, at)
	case domain.InboundMessageReceived:
		if e.ContactID == "" {
			// Messages from before contacts existed name none.
			queue(b, `UPDATE contact_profiles SET updated_at = greatest(updated_at, $2) WHERE contact_id = $1`, e.ContactID, at)
			return nil
		}
		// The profile (created, renamed, its time moved on) and the sender's
		// identity in one statement. The identity reads the contact's merge
		// as it was before the statement: the profile part never changes it,
		// and a profile it creates is not merged.
		queue(b, `WITH thread AS (SELECT instance_id FROM crm_threads WHERE thread_id = $4),
			profile AS (
				INSERT INTO contact_profiles (contact_id, instance_id, display_name, updated_at)
				SELECT $1, instance_id, $2, $3 FROM thread
				ON CONFLICT (contact_id) DO UPDATE SET updated_at = greatest(contact_profiles.updated_at, EXCLUDED.updated_at),
					display_name = CASE WHEN EXCLUDED.display_name = '' THEN contact_profiles.display_name ELSE EXCLUDED.display_name END
				WHERE `+existingMoves(`EXCLUDED.updated_at`)+`)
			INSERT INTO contact_identities (instance_id, provider, external_id, contact_id, original_contact_id)
			SELECT instance_id, $5, $6, coalesce((SELECT merged_into FROM contact_profiles WHERE contact_id = $1), $1), $1
			FROM thread WHERE $6 <> '' ON CONFLICT DO NOTHING`,
			e.ContactID, e.Sender.DisplayName, at, e.ThreadID, e.Provider, e.Sender.ExternalID)
	case domain.ContactProfileChanged:
		ch := e.Changes
		var tags []string
		if ch.Tags != nil {
			tags = ch.Tags
		}
		var attrs []byte
		if ch.Attributes != nil {
			attrs, _ = json.Marshal(ch.Attributes)
		}
		queue(b, `INSERT INTO contact_profiles (contact_id, instance_id, updated_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
			e.ContactID, e.InstanceID, at)
		queue(b, `UPDATE contact_profiles SET name = coalesce($2, name), phone = coalesce($3, phone), email = coalesce($4, email),
			level = coalesce($5, level), tags = coalesce($6, tags), attributes = coalesce($7::jsonb, attributes),
			customer_id = coalesce(nullif($8, ''), customer_id), updated_at = $9 WHERE contact_id = $1`,
			e.ContactID, ch.Name, ch.Phone, ch.Email, ch.Level, tags, attrs, e.CustomerID, at)
	case domain.ContactsMerged:
		// Recorded on both contacts' streams: applying it twice is harmless.
		queue(b, `UPDATE contact_profiles SET merged_into = $2, unmerge_until = $3, updated_at = $4 WHERE contact_id = $1`,
			e.From, e.Into, e.UnmergeUntil, at)
		queue(b, `UPDATE contact_identities SET contact_id = $2 WHERE original_contact_id = $1`, e.From, e.Into)
		queue(b, `UPDATE crm_threads SET contact_id = $2 WHERE original_contact_id = $1`, e.From, e.Into)
	case domain.ContactsUnmerged:
		queue(b, `UPDATE contact_profiles SET merged_into = NULL, unmerge_until = NULL, updated_at = $2 WHERE contact_id = $1`, e.From, at)
		queue(b, `UPDATE contact_identities SET contact_id = original_contact_id WHERE original_contact_id = $1`, e.From)
		queue(b, `UPDATE crm_threads SET contact_id = original_contact_id WHERE original_contact_id = $1`, e.From)
	case domain.CustomerUpserted:
		queue(b, `INSERT INTO crm_customers (instance_id, customer_id, name, phone, email, level, tags, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (instance_id, customer_id) DO UPDATE SET name = $3, phone = $4,
			email = $5, level = $6, tags = $7, updated_at = $8`, e.InstanceID, e.CustomerID, e.Name, e.Phone, e.Email, e.Level, e.Tags, at)
	case domain.CustomerLinked:
		queue(b, `UPDATE crm_customers SET contact_id = $3, candidates = '{}', updated_at = $4 WHERE instance_id = $1 AND customer_id = $2`,
			e.InstanceID, e.CustomerID, e.ContactID, at)
		queue(b, `UPDATE contact_profiles SET customer_id = $2, updated_at = $3 WHERE contact_id = $1`, e.ContactID, e.CustomerID, at)
	case domain.CustomerMatchAmbiguous:
		queue(b, `UPDATE crm_customers SET candidates = $3, updated_at = $4 WHERE instance_id = $1 AND customer_id = $2`,
			e.InstanceID, e.CustomerID, e.Candidates, at)
	case domain.OrderUpserted:
		queue(b, `INSERT INTO orders (instance_id, order_id, customer_id, amount, currency, status, create_time, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (instance_id, order_id) DO UPDATE SET customer_id = $3, amount = $4,
			currency = $5, status = $6, create_time = $7, updated_at = $8`,
			e.InstanceID, e.OrderID, e.CustomerID, e.Amount, e.Currency, e.Status, e.CreateTime, at)
	case domain.TicketCreated:
		queue(b, `INSERT INTO tickets (instance_id, ticket_id, thread_id, contact_id, customer_id, title, content, priority, category,
			status, created_at, updated_at) VALUES ($1, $2, nullif($3, ''), nullif($4, ''), nullif($5, ''), $6, $7, $8, $9, $10, $11, $11)
			ON CONFLICT DO NOTHING`, e.InstanceID, e.TicketID, e.ThreadID, e.ContactID, e.CustomerID, e.Title, e.Content, e.Priority,
			e.Category, e.Status, at)
	case domain.TicketStatusChanged:
		queue(b, `UPDATE tickets SET status = $3, handler = $4, updated_at = $5 WHERE instance_id = $1 AND ticket_id = $2`,
			e.InstanceID, e.TicketID, e.To, e.Handler, at)
	}
	return nil
}

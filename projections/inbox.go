package projections

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/socialops/socialops/domain"
)

// InboxProjector keeps inbox_threads: one row per thread with what the inbox
// filters and shows (its session's state and operator included), and
// inbox_counts, the number of an instance's threads per status, priority,
// provider and session state (kept by triggers on inbox_threads:
// migrations/00035), which the inbox's totals read.
type InboxProjector struct{}

func (InboxProjector) Name() string     { return "inbox" }
func (InboxProjector) Tables() []string { return []string{"inbox_threads", "inbox_counts"} }

// PreviewRunes bounds the last-message preview.
const PreviewRunes = 200

var inboxTypes = typesOf(domain.ThreadOpened{}, domain.InboundMessageReceived{}, domain.ReplyQueued{}, domain.NoteAdded{},
	domain.ThreadStatusChanged{}, domain.ThreadPriorityChanged{}, domain.ThreadAssigned{}, domain.ThreadSummarized{},
	domain.SessionQueued{}, domain.SessionAssigned{}, domain.SessionAccepted{}, domain.SessionClosed{}, domain.SessionReopened{},
	domain.SessionBotHandling{})

func (InboxProjector) Handles(t string) bool { return inboxTypes[t] }

// Merge applies a new conversation's first webhook, which appends the
// thread's opening, its session's first state and its first message, as one
// row written once (issue 21): the row as Apply's insert and then its
// updates would leave it. Each update touches every index of inbox_threads
// (they all hold last_message_at or the session state), so one write
// instead of three saves two tuples and two entries per index. A thread
// already there (opened twice) gets the session state and the message as
// Apply's updates would give them.
func (InboxProjector) Merge(b *pgx.Batch, events []domain.Envelope) (int, error) {
	fw, ok := firstWebhookAt(events)
	if !ok {
		return 0, nil
	}
	o, m, msg := fw.openedEvent, fw.messageEvent, fw.message
	state, stateSet := domain.StatePending, fw.session != nil
	operator, keepOperator := int64(0), true
	if stateSet {
		_, state, _ = domain.SessionStateAfter(fw.session.Payload)
		operator, keepOperator = domain.SessionOperatorAfter(fw.session.Payload)
	}
	// $17: the session's operator after its event (NULL for none); $18: the
	// event leaves the operator as it was (none, or a close).
	queue(b, `INSERT INTO inbox_threads AS t (thread_id, instance_id, owner_id, provider, subject, status, priority, labels,
			last_message_at, created_at, updated_at, last_position, session_state, last_message_preview, message_count, session_operator)
		VALUES ($1, $2, $3, $4, CASE WHEN $5::text = '' THEN $12::text ELSE $5 END, $6, $7,
			ARRAY(SELECT l FROM unnest($8::text[] || $13::text[]) WITH ORDINALITY AS u(l, o) GROUP BY l ORDER BY min(o)),
			$14, $9, $14, $15, $10, $11, 1, CASE WHEN $18 THEN NULL ELSE $17::bigint END)
		ON CONFLICT (thread_id) DO UPDATE SET
			session_state = CASE WHEN $16 THEN $10 ELSE t.session_state END,
			session_operator = CASE WHEN $18 THEN t.session_operator ELSE $17::bigint END,
			last_message_preview = $11,
			last_message_at = $14,
			updated_at = $14,
			message_count = t.message_count + 1,
			subject = CASE WHEN t.subject = '' THEN $12 ELSE t.subject END,
			labels = ARRAY(SELECT l FROM unnest(t.labels || $13::text[]) WITH ORDINALITY AS u(l, o) GROUP BY l ORDER BY min(o)),
			last_position = $15`,
		o.ThreadID, o.InstanceID, o.OwnerID, o.Provider, o.Subject, o.Status, o.Priority, nonNilLabels(o.Labels),
		occurredAt(fw.opened), state, Preview(m.Text), m.Subject, nonNilLabels(m.Labels), occurredAt(msg), int64(msg.Raw.Position),
		stateSet, operatorOrNil(operator), keepOperator)
	return fw.length, nil
}

func (InboxProjector) Apply(b *pgx.Batch, env domain.Envelope) error {
	at := occurredAt(env)
	pos := int64(env.Raw.Position)
	switch e := env.Payload.(type) {
	case domain.ThreadOpened:
		queue(b, `INSERT INTO inbox_threads (thread_id, instance_id, owner_id, provider, subject, status, priority, labels,
				last_message_at, created_at, updated_at, last_position, session_state)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $9, $10, $11) ON CONFLICT (thread_id) DO NOTHING`,
			e.ThreadID, e.InstanceID, e.OwnerID, e.Provider, e.Subject, e.Status, e.Priority, nonNilLabels(e.Labels), at, pos, domain.StatePending)
	case domain.InboundMessageReceived:
		queue(b, `UPDATE inbox_threads SET
				last_message_preview = $2,
				last_message_at = $3,
				updated_at = $3,
				message_count = message_count + 1,
				subject = CASE WHEN subject = '' THEN $4 ELSE subject END,
				labels = ARRAY(SELECT l FROM unnest(labels || $5::text[]) WITH ORDINALITY AS u(l, o) GROUP BY l ORDER BY min(o)),
				last_position = $6
			WHERE thread_id = $1`,
			e.ThreadID, Preview(e.Text), at, e.Subject, nonNilLabels(e.Labels), pos)
	case domain.ReplyQueued:
		queue(b, `UPDATE inbox_threads SET last_message_preview = $2, last_message_at = $3, updated_at = $3,
				message_count = message_count + 1, last_position = $4 WHERE thread_id = $1`,
			e.ThreadID, Preview(e.Text), at, pos)
	case domain.ThreadSummarized:
		// The summary is searched with the subject (search_text).
		queue(b, `UPDATE inbox_threads SET ai_summary = $2 WHERE thread_id = $1`, e.ThreadID, e.Summary)
	case domain.NoteAdded:
		// Internal notes count as messages but do not become the visible last message.
		queue(b, `UPDATE inbox_threads SET updated_at = $2, message_count = message_count + 1, last_position = $3 WHERE thread_id = $1`,
			e.ThreadID, at, pos)
	case domain.ThreadStatusChanged:
		// The session follows as in the sessions projector: resolving or
		// archiving closes it, opening a closed one queues it.
		queue(b, `UPDATE inbox_threads SET status = $2, updated_at = $3, last_position = $4,
				session_state = CASE WHEN $2 IN ('resolved', 'archived') THEN 'closed' WHEN session_state = 'closed' THEN 'pending' ELSE session_state END
			WHERE thread_id = $1`, e.ThreadID, e.To, at, pos)
	case domain.ThreadPriorityChanged:
		queue(b, `UPDATE inbox_threads SET priority = $2, updated_at = $3, last_position = $4 WHERE thread_id = $1`, e.ThreadID, e.To, at, pos)
	case domain.ThreadAssigned:
		queue(b, `UPDATE inbox_threads SET assignee = NULLIF($2, ''), updated_at = $3, last_position = $4 WHERE thread_id = $1`, e.ThreadID, e.To, at, pos)
	// The session's state and operator, for the session_state and operator
	// filters (the sessions read model keeps the rest of the session).
	case domain.SessionQueued, domain.SessionReopened, domain.SessionAssigned, domain.SessionAccepted, domain.SessionClosed,
		domain.SessionBotHandling:
		id, state, _ := domain.SessionStateAfter(e)
		op, keep := domain.SessionOperatorAfter(e)
		queue(b, `UPDATE inbox_threads SET session_state = $2, session_operator = CASE WHEN $4 THEN session_operator ELSE $3::bigint END
			WHERE thread_id = $1`, id, state, operatorOrNil(op), keep)
	}
	return nil
}

// operatorOrNil is an operator id as the read models store it: NULL for none.
func operatorOrNil(op int64) *int64 {
	if op == 0 {
		return nil
	}
	return &op
}

// Preview is the one-line start of a text shown in the inbox.
func Preview(text string) string {
	s := strings.Join(strings.Fields(text), " ")
	if utf8.RuneCountInString(s) <= PreviewRunes {
		return s
	}
	r := []rune(s)
	return string(r[:PreviewRunes-1]) + "…"
}

func nonNilLabels(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// occurredAt is the event's time from its metadata, so a rebuild gives the
// same rows; an event without one falls back to when it was stored.
func occurredAt(env domain.Envelope) time.Time {
	if !env.Metadata.OccurredAt.IsZero() {
		return env.Metadata.OccurredAt.UTC()
	}
	return env.Raw.Created.UTC()
}

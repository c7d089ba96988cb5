package projections

import (
	"github.com/jackc/pgx/v5"

	"github.com/socialops/socialops/domain"
)

// Message directions.
const (
	DirectionInbound  = "inbound"
	DirectionOutbound = "outbound"
	DirectionInternal = "internal"
)

// MessagesProjector keeps thread_messages: the normalized history of each
// thread, without raw payloads or external ids. A message id the table holds
// already (one provider event stored on two threads by a build that
// deduplicated per thread only) keeps its first row: inserts are idempotent.
type MessagesProjector struct{}

func (MessagesProjector) Name() string     { return "messages" }
func (MessagesProjector) Tables() []string { return []string{"thread_messages"} }

var messageTypes = typesOf(domain.InboundMessageReceived{}, domain.NoteAdded{}, domain.ReplyQueued{},
	domain.DeliveryClaimed{}, domain.ReplyDelivered{}, domain.ReplyDeliveryFailed{}, domain.MessageEdited{}, domain.MessageRetracted{})

func (MessagesProjector) Handles(t string) bool { return messageTypes[t] }

func (MessagesProjector) Apply(b *pgx.Batch, env domain.Envelope) error {
	switch e := env.Payload.(type) {
	case domain.InboundMessageReceived:
		queue(b, `INSERT INTO thread_messages (message_id, thread_id, direction, message_type, text, sender_display, created_at, position, sender_id)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (message_id) DO NOTHING`,
			e.MessageID, e.ThreadID, DirectionInbound, e.MessageType, e.Text, e.Sender.DisplayName, occurredAt(env), int64(env.Raw.Position), e.ContactID)
	case domain.NoteAdded:
		queue(b, `INSERT INTO thread_messages (message_id, thread_id, direction, message_type, text, sender_display, created_at, position)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (message_id) DO NOTHING`,
			e.MessageID, e.ThreadID, DirectionInternal, domain.MessageText, e.Text, e.AuthorID, occurredAt(env), int64(env.Raw.Position))
	case domain.ReplyQueued:
		queue(b, `INSERT INTO thread_messages (message_id, thread_id, direction, message_type, text, sender_display, created_at, position,
				action_id, delivery_status, sender_id)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $6) ON CONFLICT (message_id) DO NOTHING`,
			e.MessageID, e.ThreadID, DirectionOutbound, domain.MessageText, e.Text, e.AuthorID, occurredAt(env), int64(env.Raw.Position),
			e.ActionID, domain.ActionPending)
	case domain.DeliveryClaimed:
		queue(b, `UPDATE thread_messages SET delivery_status = $2 WHERE message_id = $1 AND delivery_status = $3`,
			e.MessageID, domain.ActionProcessing, domain.ActionPending)
	case domain.ReplyDelivered:
		queue(b, `UPDATE thread_messages SET delivery_status = $2, failure_reason = NULL WHERE message_id = $1`, e.MessageID, domain.ActionCompleted)
	case domain.ReplyDeliveryFailed:
		queue(b, `UPDATE thread_messages SET delivery_status = $2, failure_reason = $3 WHERE message_id = $1`,
			e.MessageID, domain.ActionFailed, e.ErrorCode+": "+e.ErrorMessage)
	case domain.MessageEdited:
		queue(b, `UPDATE thread_messages SET text = $2, edited_at = $3 WHERE message_id = $1 AND retracted_at IS NULL`,
			e.MessageID, e.To, occurredAt(env))
	case domain.MessageRetracted:
		// Ordinary reads show a retracted message without its text; the
		// audit history (the events) keeps it.
		queue(b, `UPDATE thread_messages SET text = '', retracted_at = $2 WHERE message_id = $1`, e.MessageID, occurredAt(env))
	}
	return nil
}

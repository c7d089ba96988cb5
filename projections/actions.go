package projections

import (
	"github.com/jackc/pgx/v5"

	"github.com/socialops/socialops/domain"
)

// ActionsProjector keeps reply_actions: each send_reply action with its status.
type ActionsProjector struct{}

func (ActionsProjector) Name() string     { return "actions" }
func (ActionsProjector) Tables() []string { return []string{"reply_actions"} }

var actionTypes = typesOf(domain.ReplyQueued{}, domain.DeliveryClaimed{}, domain.DeliverySendStarted{},
	domain.DeliveryAttemptFailed{}, domain.ReplyDelivered{}, domain.ReplyDeliveryFailed{})

func (ActionsProjector) Handles(t string) bool { return actionTypes[t] }

func (ActionsProjector) Apply(b *pgx.Batch, env domain.Envelope) error {
	at := occurredAt(env)
	switch e := env.Payload.(type) {
	case domain.ReplyQueued:
		queue(b, `INSERT INTO reply_actions (action_id, thread_id, instance_id, message_id, action_type, status, created_at, updated_at, position)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8) ON CONFLICT (action_id) DO NOTHING`,
			e.ActionID, e.ThreadID, e.InstanceID, e.MessageID, e.ActionType, domain.ActionPending, at, int64(env.Raw.Position))
	case domain.DeliveryClaimed:
		queue(b, `UPDATE reply_actions SET status = $2, updated_at = $3 WHERE action_id = $1 AND status IN ($2, $4)`,
			e.ActionID, domain.ActionProcessing, at, domain.ActionPending)
	case domain.DeliverySendStarted:
		queue(b, `UPDATE reply_actions SET attempts = $2, updated_at = $3 WHERE action_id = $1`, e.ActionID, e.Attempt, at)
	case domain.DeliveryAttemptFailed:
		queue(b, `UPDATE reply_actions SET error_code = $2, error_message = $3, updated_at = $4 WHERE action_id = $1`,
			e.ActionID, e.ErrorCode, e.ErrorMessage, at)
	case domain.ReplyDelivered:
		queue(b, `UPDATE reply_actions SET status = $2, attempts = $3, error_code = NULL, error_message = NULL, updated_at = $4 WHERE action_id = $1`,
			e.ActionID, domain.ActionCompleted, e.Attempts, at)
	case domain.ReplyDeliveryFailed:
		queue(b, `UPDATE reply_actions SET status = $2, attempts = $3, error_code = $4, error_message = $5, updated_at = $6 WHERE action_id = $1`,
			e.ActionID, domain.ActionFailed, e.Attempts, e.ErrorCode, e.ErrorMessage, at)
	}
	return nil
}

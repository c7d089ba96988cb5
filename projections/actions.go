package projections

import (
	"github.com/jackc/pgx/v5"

	"github.com/socialops/socialops/domain"
)

// ActionsProjector keeps reply_actions: each send_reply action with its status.
type ActionsProjector struct{}

func (ActionsProjector) Name() string     { return "actions" }
func (ActionsProjector) Tables() []string { return []string{"reply_actions"} }

func (ActionsProjector) Apply(b *pgx.Batch, env domain.Envelope) error {
	at := occurredAt(env)
	switch e := env.Payload.(type) {
	case domain.ReplyQueued:
		b.Queue(`INSERT INTO reply_actions (action_id, thread_id, instance_id, message_id, action_type, status, created_at, updated_at, position)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)`,
			e.ActionID, e.ThreadID, e.InstanceID, e.MessageID, e.ActionType, domain.ActionPending, at, int64(env.Raw.Position))
	}
	return nil
}

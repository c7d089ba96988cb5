package realtime

import (
	"context"

	"github.com/socialops/socialops/commands"
	"github.com/socialops/socialops/domain"
)

// PresenceVia sets presence with the operator command, so the change is an
// event routing and agent.status_changed webhooks see.
func PresenceVia(svc *commands.Service) Presence {
	return func(ctx context.Context, inst domain.Instance, operatorID int64, presence string) error {
		p := presence
		_, err := svc.ChangeOperator(ctx, commands.ChangeOperator{Instance: inst, OperatorID: operatorID,
			Changes: domain.OperatorChanges{Presence: &p},
			Context: commands.Context{Actor: domain.Actor{Kind: domain.ActorSystem, ID: "realtime"}, OwnerID: inst.OwnerID,
				InstanceAlias: inst.Alias}})
		return err
	}
}

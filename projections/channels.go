package projections

import (
	"github.com/jackc/pgx/v5"

	"github.com/socialops/socialops/domain"
)

// ChannelsProjector keeps channels: the instance's provider bindings, without tokens.
type ChannelsProjector struct{}

func (ChannelsProjector) Name() string     { return "channels" }
func (ChannelsProjector) Tables() []string { return []string{"channels"} }

var channelTypes = typesOf(domain.ChannelCreated{}, domain.ChannelStatusChanged{})

func (ChannelsProjector) Handles(t string) bool { return channelTypes[t] }

func (ChannelsProjector) Apply(b *pgx.Batch, env domain.Envelope) error {
	at := occurredAt(env)
	switch e := env.Payload.(type) {
	case domain.ChannelCreated:
		queue(b, `INSERT INTO channels (channel_id, instance_id, owner_id, provider, connected_account_id, channel_name,
				external_channel_id, parse_mode, status, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) ON CONFLICT (channel_id) DO NOTHING`,
			e.ChannelID, e.InstanceID, e.OwnerID, e.Provider, e.ConnectedAccountID, e.ChannelName, e.ExternalChannelID, e.ParseMode, e.Status, at)
	case domain.ChannelStatusChanged:
		queue(b, `UPDATE channels SET status = $2, updated_at = $3 WHERE channel_id = $1`, e.ChannelID, e.To, at)
	}
	return nil
}

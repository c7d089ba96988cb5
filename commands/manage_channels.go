package commands

import (
	"context"

	"github.com/socialops/socialops/domain"
)

// CreateChannel binds a Telegram chat to an instance (seed 000's channel JSON).
type CreateChannel struct {
	Command domain.CreateChannelCommand
	Context Context
}

// ChannelResult is the channel after the command.
type ChannelResult struct {
	Channel  domain.ChannelCreated
	Status   string
	Position uint64
}

// CreateChannel appends ChannelCreated to a new channel stream.
func (s *Service) CreateChannel(ctx context.Context, cmd CreateChannel) (ChannelResult, error) {
	if cmd.Command.ChannelID == "" {
		cmd.Command.ChannelID = domain.RandomID(domain.PrefixChannel, s.random)
	}
	events, err := domain.DecideCreateChannel(cmd.Command)
	if err != nil {
		return ChannelResult{}, err
	}
	cc := cmd.Context
	cc.OwnerID = cmd.Command.OwnerID
	p, err := s.encode(cc, domain.RandomUUID(s.random), events[0])
	if err != nil {
		return ChannelResult{}, err
	}
	res, err := s.log.Append(ctx, domain.ChannelStream(cmd.Command.ChannelID), domain.NoStream(), p)
	if err != nil {
		return ChannelResult{}, err
	}
	created := events[0].(domain.ChannelCreated)
	return ChannelResult{Channel: created, Status: created.Status, Position: res.Position}, nil
}

// SetChannelStatus turns a channel on or off.
type SetChannelStatus struct {
	InstanceID string
	ChannelID  string
	Status     string
	Context    Context
}

// SetChannelStatus appends ChannelStatusChanged unless the channel already has that status.
func (s *Service) SetChannelStatus(ctx context.Context, cmd SetChannelStatus) (ChannelResult, error) {
	stream := domain.ChannelStream(cmd.ChannelID)
	ch, events, pos, err := decideAndAppend(ctx, s, stream, cmd.Context,
		func() (domain.Channel, int64, error) {
			c, err := load(ctx, s, stream, domain.NewChannel(cmd.ChannelID), domain.EvolveChannel)
			return c, c.Version, err
		},
		func(c domain.Channel) ([]domain.Event, error) {
			return domain.DecideChannelStatus(c, cmd.InstanceID, cmd.Status)
		},
		nil,
		func(c domain.Channel, cc *Context) { cc.OwnerID = c.Created.OwnerID })
	if err != nil {
		return ChannelResult{}, err
	}
	if len(events) == 0 {
		return ChannelResult{Channel: ch.Created, Status: ch.Status}, nil
	}
	return ChannelResult{Channel: ch.Created, Status: cmd.Status, Position: pos}, nil
}

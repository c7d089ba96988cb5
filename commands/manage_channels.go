package commands

import (
	"context"
	"errors"

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
	for attempt := 0; attempt < s.MaxAttempts; attempt++ {
		ch, err := load(ctx, s, stream, domain.NewChannel(cmd.ChannelID), domain.EvolveChannel)
		if err != nil {
			return ChannelResult{}, err
		}
		events, err := domain.DecideChannelStatus(ch, cmd.InstanceID, cmd.Status)
		if err != nil {
			return ChannelResult{}, err
		}
		if len(events) == 0 {
			return ChannelResult{Channel: ch.Created, Status: ch.Status}, nil
		}
		cc := cmd.Context
		cc.OwnerID = ch.Created.OwnerID
		p, err := s.encode(cc, domain.RandomUUID(s.random), events[0])
		if err != nil {
			return ChannelResult{}, err
		}
		res, err := s.log.Append(ctx, stream, domain.ExpectedFromVersion(ch.Version), p)
		if errors.Is(err, domain.ErrWrongExpectedRevision) {
			if err := s.backoff(ctx, attempt); err != nil {
				return ChannelResult{}, err
			}
			continue
		}
		if err != nil {
			return ChannelResult{}, err
		}
		return ChannelResult{Channel: ch.Created, Status: cmd.Status, Position: res.Position}, nil
	}
	return ChannelResult{}, domain.ErrConcurrencyExhausted
}

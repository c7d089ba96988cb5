package commands

import (
	"context"
	"encoding/json"

	"github.com/socialops/socialops/domain"
)

// IngestWebhook is an authenticated, normalized provider delivery.
type IngestWebhook struct {
	Instance   domain.Instance
	Message    domain.InboundMessage
	RawPayload json.RawMessage
	Context    Context
}

// IngestResult is what the webhook endpoint answers.
type IngestResult struct {
	ThreadID  string
	MessageID string
	Duplicate bool
	Position  uint64 // log position of the message event
}

// IngestWebhook accepts a delivery into its thread: it opens the thread on the
// first message and appends the message with its charge in one append. A
// provider event already accepted changes nothing and answers the original ids.
func (s *Service) IngestWebhook(ctx context.Context, cmd IngestWebhook) (IngestResult, error) {
	m := cmd.Message
	key := cmd.Instance.ID + "\x00" + m.Provider + "\x00" + m.ProviderEventID
	v, err, shared := s.inflight.do(key, func() (any, error) { return s.ingest(ctx, cmd) })
	if err != nil {
		return IngestResult{}, err
	}
	res := v.(IngestResult)
	if shared {
		res.Duplicate = true
	}
	return res, nil
}

func (s *Service) ingest(ctx context.Context, cmd IngestWebhook) (IngestResult, error) {
	m := cmd.Message
	threadID := domain.InboundThreadID(cmd.Instance.ID, m.Provider, m.ExternalThreadID)
	stream := domain.ThreadStream(threadID)
	cc := cmd.Context
	cc.OwnerID, cc.InstanceAlias = cmd.Instance.OwnerID, cmd.Instance.Alias
	if cc.CausationID == "" {
		cc.CausationID = m.Provider + ":" + m.ProviderEventID
	}
	var outcome domain.InboundOutcome
	_, events, pos, err := decideAndAppend(ctx, s, stream, cc,
		func() (domain.Thread, int64, error) {
			t, err := s.loadThread(ctx, threadID)
			return t, t.Version, err
		},
		func(t domain.Thread) ([]domain.Event, error) {
			var evs []domain.Event
			evs, outcome = domain.DecideInbound(t, domain.ReceiveInbound{
				Instance: cmd.Instance, Message: m, RawPayload: cmd.RawPayload, FeeMicroUSD: s.InboundFeeMicroUSD,
			})
			return evs, nil
		},
		// Ids derived from the provider event: a copy racing this one proposes
		// the same ids, and the store stores them once.
		func(e domain.Event) string {
			return domain.EventUUID(cmd.Instance.ID, m.Provider, m.ProviderEventID, e.EventType())
		},
		nil)
	if err != nil {
		return IngestResult{}, err
	}
	if len(events) == 0 {
		return IngestResult{ThreadID: outcome.ThreadID, MessageID: outcome.MessageID, Duplicate: true, Position: outcome.Position}, nil
	}
	return IngestResult{ThreadID: outcome.ThreadID, MessageID: outcome.MessageID, Position: pos}, nil
}

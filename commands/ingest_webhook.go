package commands

import (
	"context"
	"encoding/json"
	"errors"

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
	for attempt := 0; attempt < s.MaxAttempts; attempt++ {
		state, err := s.loadThread(ctx, threadID)
		if err != nil {
			return IngestResult{}, err
		}
		events, outcome := domain.DecideInbound(state, domain.ReceiveInbound{
			Instance:    cmd.Instance,
			Message:     m,
			RawPayload:  cmd.RawPayload,
			FeeMicroUSD: s.InboundFeeMicroUSD,
		})
		if outcome.Duplicate {
			return IngestResult{ThreadID: outcome.ThreadID, MessageID: outcome.MessageID, Duplicate: true, Position: outcome.Position}, nil
		}
		proposed := make([]domain.ProposedEvent, 0, len(events))
		for _, e := range events {
			// Ids derived from the provider event: a copy racing this one proposes
			// the same ids, and the store stores them once.
			id := domain.EventUUID(cmd.Instance.ID, m.Provider, m.ProviderEventID, e.EventType())
			p, err := s.encode(cc, id, e)
			if err != nil {
				return IngestResult{}, err
			}
			proposed = append(proposed, p)
		}
		res, err := s.log.Append(ctx, stream, domain.ExpectedFromVersion(state.Version), proposed...)
		if errors.Is(err, domain.ErrWrongExpectedRevision) {
			if err := s.backoff(ctx, attempt); err != nil {
				return IngestResult{}, err
			}
			continue
		}
		if err != nil {
			return IngestResult{}, err
		}
		return IngestResult{ThreadID: outcome.ThreadID, MessageID: outcome.MessageID, Position: res.Position}, nil
	}
	return IngestResult{}, domain.ErrConcurrencyExhausted
}

package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

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
// provider event already accepted — in this thread or any other of the
// instance, see domain.InboundEvent — changes nothing and answers the
// original ids.
func (s *Service) IngestWebhook(ctx context.Context, cmd IngestWebhook) (IngestResult, error) {
	m := cmd.Message
	// Copies in flight merge on the deduplication scope, whatever thread they name.
	key := strings.Join([]string{cmd.Instance.ID, m.Provider, m.Source, m.ProviderEventID}, "\x00")
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
	ref := domain.InboundEventOf(cmd.Instance.ID, m)
	threadID := domain.InboundThreadID(cmd.Instance.ID, m.Provider, m.ExternalThreadID)
	stream := domain.ThreadStream(threadID)
	cc := cmd.Context
	cc.OwnerID, cc.InstanceAlias = cmd.Instance.OwnerID, cmd.Instance.Alias
	if cc.CausationID == "" {
		cc.CausationID = m.Provider + ":" + m.ProviderEventID
		if m.Source != "" {
			cc.CausationID = m.Provider + ":" + m.Source + ":" + m.ProviderEventID
		}
	}
	// A message too large for one append must be refused before its claim is
	// stored: a refusal stores nothing.
	if err := s.checkInboundSize(cmd, threadID, cc); err != nil {
		return IngestResult{}, err
	}
	bot, err := s.firstBot(ctx, cmd.Instance.ID)
	if err != nil {
		return IngestResult{}, err
	}
	if ma, ok := s.log.(MultiAppender); ok {
		return s.ingestAtomic(ctx, ma, cmd, ref, threadID, cc, bot)
	}
	if dup, isDup, err := s.claimInbound(ctx, ref, threadID, cc); err != nil || isDup {
		return dup, err
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
				Instance: cmd.Instance, Message: m, RawPayload: cmd.RawPayload, FeeMicroUSD: s.InboundFeeMicroUSD, Bot: bot,
			})
			return evs, nil
		},
		// Ids derived from the provider event: a copy racing this one proposes
		// the same ids, and the store stores them once.
		func(e domain.Event) string { return ref.EventUUID(e.EventType()) },
		nil)
	if err != nil {
		return IngestResult{}, err
	}
	if len(events) == 0 {
		return IngestResult{ThreadID: outcome.ThreadID, MessageID: outcome.MessageID, Duplicate: true, Position: outcome.Position}, nil
	}
	return IngestResult{ThreadID: outcome.ThreadID, MessageID: outcome.MessageID, Position: pos}, nil
}

// BotDirectory tells which bot answers an instance's new sessions first.
type BotDirectory interface {
	FirstBot(ctx context.Context, instanceID string) (domain.BotFirst, error)
}

// WithBots sets where the commands learn of first-mode bots (none: no
// session starts with a bot) and returns s.
func (s *Service) WithBots(b BotDirectory) *Service {
	s.bots = b
	return s
}

func (s *Service) firstBot(ctx context.Context, instanceID string) (domain.BotFirst, error) {
	if s.bots == nil {
		return domain.BotFirst{}, nil
	}
	return s.bots.FirstBot(ctx, instanceID)
}

// checkInboundSize refuses with domain.ErrAppendTooLarge a delivery whose
// thread append could exceed domain.MaxAppendBytes, sizing the largest
// append it can become (a new thread's opening, the message, its charge).
// Only large inputs are encoded twice for it.
func (s *Service) checkInboundSize(cmd IngestWebhook, threadID string, cc Context) error {
	m := cmd.Message
	if len(cmd.RawPayload)+2*len(m.Text)+len(m.Subject) < domain.MaxAppendBytes/2 {
		return nil
	}
	events, _ := domain.DecideInbound(domain.NewThread(threadID), domain.ReceiveInbound{
		Instance: cmd.Instance, Message: m, RawPayload: cmd.RawPayload, FeeMicroUSD: s.InboundFeeMicroUSD,
	})
	proposed := make([]domain.ProposedEvent, 0, len(events))
	for _, e := range events {
		p, err := s.encode(cc, domain.RandomUUID(s.random), e)
		if err != nil {
			return err
		}
		proposed = append(proposed, p)
	}
	return domain.CheckAppendSize(domain.ThreadStream(threadID), proposed)
}

// claimInbound gives the provider event to threadID by appending its claim
// with no-stream, before the message goes to the thread. The same claim
// stored already (a retry after a crash between the two appends, or a copy
// racing this one) is an idempotent success, and the caller goes on to the
// thread, which stores the message once. A claim for another thread makes
// this delivery a duplicate of the original: it answers the original ids and
// stores nothing.
func (s *Service) claimInbound(ctx context.Context, ref domain.InboundEvent, threadID string, cc Context) (IngestResult, bool, error) {
	claim := domain.ClaimInbound(ref, threadID)
	ev, err := s.encode(cc, ref.EventUUID(claim.EventType(), threadID), claim)
	if err != nil {
		return IngestResult{}, false, err
	}
	_, err = s.log.Append(ctx, ref.ClaimStream(), domain.NoStream(), ev)
	if err == nil {
		return IngestResult{}, false, nil
	}
	if !errors.Is(err, domain.ErrWrongExpectedRevision) {
		return IngestResult{}, false, err
	}
	raw, err := s.log.ReadStream(ctx, ref.ClaimStream(), domain.Forwards, domain.StreamStart, 1)
	if err != nil {
		return IngestResult{}, false, fmt.Errorf("read the claim of a provider event: %w", err)
	}
	env, err := s.registry.Decode(raw[0])
	if err != nil {
		return IngestResult{}, false, err
	}
	first, ok := env.Payload.(domain.InboundEventClaimed)
	if !ok {
		return IngestResult{}, false, fmt.Errorf("claim stream %s starts with %s", ref.ClaimStream(), env.Type)
	}
	if first.ThreadID == threadID {
		return IngestResult{}, false, nil
	}
	// Read-your-writes position: the original message's append, or the claim's
	// while the claiming delivery is still to be retried.
	res := IngestResult{ThreadID: first.ThreadID, MessageID: first.MessageID, Duplicate: true, Position: raw[0].Position}
	t, err := s.loadThread(ctx, first.ThreadID)
	if err != nil {
		return IngestResult{}, false, err
	}
	if acc, found := t.AcceptedInbound(ref); found {
		res.Position = acc.Position
	}
	return res, true, nil
}

// ingestAtomic is ingest on a log with atomic multi-stream appends: the claim
// and the thread's events go in one append, so a crash can never leave one
// without the other and each new message costs one commit. The thread state
// comes from the thread cache when it holds the thread; the append expects
// the state's version, so a stale state costs a retry from a fresh read.
func (s *Service) ingestAtomic(ctx context.Context, log MultiAppender, cmd IngestWebhook, ref domain.InboundEvent, threadID string, cc Context, bot domain.BotFirst) (IngestResult, error) {
	m := cmd.Message
	stream := domain.ThreadStream(threadID)
	claim := domain.ClaimInbound(ref, threadID)
	claimEv, err := s.encode(cc, ref.EventUUID(claim.EventType(), threadID), claim)
	if err != nil {
		return IngestResult{}, err
	}
	for attempt := 0; attempt < s.MaxAttempts; attempt++ {
		t, cached := s.threads.get(threadID)
		// guessed: t is a new thread the log was not asked about (missTrend).
		guessed := false
		switch {
		case cached && attempt == 0:
		case !cached && attempt == 0 && s.threads.misses.guessNew():
			t, guessed = domain.NewThread(threadID), true
		default:
			if t, err = s.loadThread(ctx, threadID); err != nil {
				return IngestResult{}, err
			}
			if !cached && attempt == 0 {
				s.threads.misses.saw(t.Version < 0)
			}
		}
		events, outcome := domain.DecideInbound(t, domain.ReceiveInbound{
			Instance: cmd.Instance, Message: m, RawPayload: cmd.RawPayload, FeeMicroUSD: s.InboundFeeMicroUSD, Bot: bot,
		})
		if len(events) == 0 {
			if !guessed {
				s.threads.put(t)
			}
			return IngestResult{ThreadID: outcome.ThreadID, MessageID: outcome.MessageID, Duplicate: true, Position: outcome.Position}, nil
		}
		proposed := make([]domain.ProposedEvent, 0, len(events))
		for _, e := range events {
			// Ids derived from the provider event: a copy racing this one
			// proposes the same ids, and the store stores them once.
			p, err := s.encode(cc, ref.EventUUID(e.EventType()), e)
			if err != nil {
				return IngestResult{}, err
			}
			proposed = append(proposed, p)
		}
		res, err := log.AppendMulti(ctx,
			domain.StreamAppend{Stream: ref.ClaimStream(), Expected: domain.NoStream(), Events: []domain.ProposedEvent{claimEv}},
			domain.StreamAppend{Stream: stream, Expected: domain.ExpectedFromVersion(t.Version), Events: proposed})
		if err == nil && res[1].Repeated {
			// These very events are stored: a redelivery decided on a state
			// that did not know its message yet (a new thread guessed, or a
			// cached state behind another process's appends). Decide again on
			// the thread as stored, which answers it as the duplicate it is.
			s.threads.drop(threadID)
			if guessed {
				s.threads.misses.saw(false)
			}
			continue
		}
		var wrong *domain.WrongExpectedRevisionError
		if guessed && errors.As(err, &wrong) && wrong.Stream == stream {
			// The thread was stored after all: read it and decide again, at
			// once (this was no race with another writer).
			s.threads.misses.saw(false)
			continue
		}
		if guessed && err == nil {
			s.threads.misses.saw(true)
		}
		if errors.As(err, &wrong) {
			s.threads.drop(threadID)
			if wrong.Stream == ref.ClaimStream() {
				// Claimed by another thread: a duplicate of the original.
				dup, isDup, err := s.claimInbound(ctx, ref, threadID, cc)
				if err != nil || isDup {
					return dup, err
				}
				continue
			}
			if err := s.backoff(ctx, attempt); err != nil {
				return IngestResult{}, err
			}
			continue
		}
		if err != nil {
			s.threads.drop(threadID)
			return IngestResult{}, err
		}
		pos := res[1].Position
		next := evolved(t, events, pos)
		s.threads.put(next)
		if s.snapshots != nil && (next.Version+1)/snapshotEvery > (t.Version+1)/snapshotEvery {
			// Cached threads are not read, so snapshots are taken here as they grow.
			if raw, err := json.Marshal(next); err == nil {
				if err := s.snapshots.SaveSnapshot(ctx, stream, domain.ThreadSnapshotVersion, next.Version, raw); err != nil {
					s.logger.Warn("thread snapshot not saved", "thread_id", threadID, "error", err)
				}
			}
		}
		return IngestResult{ThreadID: outcome.ThreadID, MessageID: outcome.MessageID, Position: pos}, nil
	}
	s.logger.Warn("command gave up after concurrent changes", "stream", stream, "attempts", s.MaxAttempts)
	return IngestResult{}, domain.ErrConcurrencyExhausted
}

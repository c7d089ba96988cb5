package commands

import (
	"context"
	"errors"
	"strconv"

	"github.com/socialops/socialops/domain"
)

// RecordMembership appends members joining or leaving a conversation
// (domain.MemberChanged, not billed) to its thread; a thread that does not
// exist yet (nobody wrote in that chat) records nothing. Each change first
// claims its provider event (a stream of its own, appended with no-stream,
// in the thread append's transaction where the store can), so a repeated
// delivery stores nothing twice.
func (s *Service) RecordMembership(ctx context.Context, changes []domain.MemberChanged, cc Context) (recorded int, pos uint64, err error) {
	for _, ch := range changes {
		p, ok, err := s.recordMember(ctx, ch, cc)
		if err != nil {
			return recorded, pos, err
		}
		if ok {
			recorded++
			pos = p
		}
	}
	return recorded, pos, nil
}

func (s *Service) recordMember(ctx context.Context, ch domain.MemberChanged, cc Context) (uint64, bool, error) {
	claim := domain.InboundEventClaimed{InstanceID: ch.InstanceID, Provider: domain.ProviderTelegram,
		ProviderEventID: ch.ProviderEventID, ThreadID: ch.ThreadID}
	return s.appendOnce(ctx, "member-"+domain.EventUUID("member", ch.InstanceID, ch.ThreadID, ch.ProviderEventID),
		ch.InstanceID, ch.ThreadID, claim, ch, cc)
}

// RecordSummary appends a thread's summary once per key (the thread's
// message count and status when it was made): a follower replaying its
// batch after a crash stores nothing twice.
func (s *Service) RecordSummary(ctx context.Context, instanceID, status string, sum domain.ThreadSummarized, cc Context) (uint64, bool, error) {
	key := domain.EventUUID("summary", sum.ThreadID, strconv.Itoa(sum.MessageCount), status)
	claim := domain.InboundEventClaimed{InstanceID: instanceID, Provider: "summary", ProviderEventID: key, ThreadID: sum.ThreadID}
	return s.appendOnce(ctx, "summary-"+key, instanceID, sum.ThreadID, claim, sum, cc)
}

// appendOnce appends ev to an existing thread of the instance unless the
// claim stream exists already: the claim is appended with no-stream in the
// thread append's transaction where the store can (else first). False when
// there was nothing to do (claimed already, or no such thread).
func (s *Service) appendOnce(ctx context.Context, claimStream, instanceID, threadID string, claimEv, ev domain.Event, cc Context) (uint64, bool, error) {
	// A fresh id: the store takes an append of ids it holds already as a
	// retry of that append, and the claim must conflict instead.
	claim, err := s.encode(cc, domain.RandomUUID(s.random), claimEv)
	if err != nil {
		return 0, false, err
	}
	proposed, err := s.encode(cc, domain.EventUUID("once", claimStream), ev)
	if err != nil {
		return 0, false, err
	}
	ma, atomic := s.log.(MultiAppender)
	claimed := domain.StreamAppend{Stream: claimStream, Expected: domain.NoStream(), Events: []domain.ProposedEvent{claim}}
	if !atomic {
		// A log without multi-stream appends (KurrentDB) claims first: a
		// crash before the thread append loses that one event.
		if _, err := s.log.Append(ctx, claimStream, domain.NoStream(), claim); err != nil {
			if errors.Is(err, domain.ErrWrongExpectedRevision) {
				return 0, false, nil
			}
			return 0, false, err
		}
	}
	for attempt := 0; attempt < s.MaxAttempts; attempt++ {
		t, err := s.loadThread(ctx, threadID)
		if err != nil {
			return 0, false, err
		}
		if !t.Exists() || t.InstanceID != instanceID {
			return 0, false, nil
		}
		thread := domain.StreamAppend{Stream: domain.ThreadStream(threadID), Expected: domain.ExpectedFromVersion(t.Version), Events: []domain.ProposedEvent{proposed}}
		var res []domain.AppendResult
		if atomic {
			res, err = ma.AppendMulti(ctx, claimed, thread)
		} else {
			var r domain.AppendResult
			r, err = s.log.Append(ctx, thread.Stream, thread.Expected, proposed)
			res = []domain.AppendResult{r}
		}
		var wrong *domain.WrongExpectedRevisionError
		if errors.As(err, &wrong) {
			if wrong.Stream == claimStream {
				return 0, false, nil // recorded already
			}
			s.threads.drop(threadID)
			if err := s.backoff(ctx, attempt); err != nil {
				return 0, false, err
			}
			continue
		}
		if err != nil {
			return 0, false, err
		}
		s.threads.drop(threadID)
		return res[len(res)-1].Position, true, nil
	}
	return 0, false, domain.ErrConcurrencyExhausted
}

package commands

import (
	"context"
	"errors"
	"sync"

	"github.com/socialops/socialops/domain"
)

// RoutingManager is the routing process manager's decision half: it counts
// sessions on operators in each instance's roster (appended with the roster's
// revision, so no two routers put an operator above capacity) and then gives
// each session to its operator on the thread (appended with the thread's
// revision, so no session is given twice: a session accepted or closed in
// between is released again). It keeps every roster it routes for in memory
// and reads only the stream's new events before each decision. A
// RoutingManager is used by one goroutine at a time.
type RoutingManager struct {
	s       *Service
	mu      sync.Mutex
	rosters map[string]domain.Roster
	// Parallel bounds the thread appends of one routing batch (default 8).
	Parallel int
	// Batch bounds the sessions counted in one roster append (default 200).
	Batch int
}

// NewRoutingManager returns a manager appending through s.
func (s *Service) NewRoutingManager() *RoutingManager {
	return &RoutingManager{s: s, rosters: map[string]domain.Roster{}, Parallel: 8, Batch: 200}
}

// Assignment is a session given to an operator.
type Assignment struct {
	ThreadID   string
	OperatorID int64
	Position   uint64
}

func (m *RoutingManager) context(instanceID string) Context {
	return Context{Actor: domain.RoutingActor, CorrelationID: "routing-" + instanceID}
}

// roster is the instance's roster, brought up to the stream's head.
func (m *RoutingManager) roster(ctx context.Context, instanceID string) (domain.Roster, error) {
	m.mu.Lock()
	r, ok := m.rosters[instanceID]
	m.mu.Unlock()
	var err error
	if !ok {
		r, err = m.s.loadRoster(ctx, instanceID)
	} else {
		r, err = m.s.loadRosterAfter(ctx, r)
	}
	if err != nil {
		m.forget(instanceID)
		return domain.Roster{}, err
	}
	m.mu.Lock()
	m.rosters[instanceID] = r
	m.mu.Unlock()
	return r, nil
}

func (m *RoutingManager) forget(instanceID string) {
	m.mu.Lock()
	delete(m.rosters, instanceID)
	m.mu.Unlock()
}

// Roster is the manager's current view of an instance's roster (a copy).
func (m *RoutingManager) Roster(ctx context.Context, instanceID string) (domain.Roster, error) {
	r, err := m.roster(ctx, instanceID)
	if err != nil {
		return r, err
	}
	return r.Clone(), nil
}

// Available tells whether some operator of the instance can take a session
// now (without copying the roster, which holds every open session).
func (m *RoutingManager) Available(ctx context.Context, instanceID string) (bool, error) {
	r, err := m.roster(ctx, instanceID)
	if err != nil {
		return false, err
	}
	_, ok := r.NextAvailable()
	return ok, nil
}

// changeRoster appends what decide returns with the roster's revision,
// deciding again on the new events after a concurrent change.
func (m *RoutingManager) changeRoster(ctx context.Context, instanceID string, decide func(domain.Roster) []domain.Event) (domain.Roster, []domain.Event, error) {
	for attempt := 0; attempt < m.s.MaxAttempts; attempt++ {
		r, err := m.roster(ctx, instanceID)
		if err != nil {
			return r, nil, err
		}
		evs := decide(r)
		if len(evs) == 0 {
			return r, nil, nil
		}
		cc := m.context(instanceID)
		proposed := make([]domain.ProposedEvent, 0, len(evs))
		for _, e := range evs {
			p, err := m.s.encode(cc, domain.RandomUUID(m.s.random), e)
			if err != nil {
				return r, nil, err
			}
			proposed = append(proposed, p)
		}
		_, err = m.s.log.Append(ctx, domain.RosterStream(instanceID), domain.ExpectedFromVersion(r.Version), proposed...)
		if errors.Is(err, domain.ErrWrongExpectedRevision) {
			if err := m.s.backoff(ctx, attempt); err != nil {
				return r, nil, err
			}
			continue
		}
		if err != nil {
			m.forget(instanceID)
			return r, nil, err
		}
		// The cached roster takes the events as the stream now holds them.
		r, err = m.roster(ctx, instanceID)
		return r, evs, err
	}
	return domain.Roster{}, nil, domain.ErrConcurrencyExhausted
}

// Route gives pending sessions (oldest first) to available operators in
// round-robin order, as many as capacity allows, and returns the assignments
// made. Sessions no operator can take stay queued.
func (m *RoutingManager) Route(ctx context.Context, instanceID string, threadIDs []string) ([]Assignment, error) {
	var out []Assignment
	for len(threadIDs) > 0 {
		n := min(len(threadIDs), m.Batch)
		chunk := threadIDs[:n]
		threadIDs = threadIDs[n:]
		var routed map[string]int64
		_, _, err := m.changeRoster(ctx, instanceID, func(r domain.Roster) []domain.Event {
			evs, to := domain.DecideRoutes(r, chunk)
			routed = to
			return evs
		})
		if err != nil {
			return out, err
		}
		done, err := m.assign(ctx, instanceID, chunk, routed)
		out = append(out, done...)
		if err != nil {
			return out, err
		}
		if len(routed) < len(chunk) {
			return out, nil // nobody can take more
		}
	}
	return out, nil
}

// assign appends each routed session's assignment to its thread; a session
// that is no longer pending is released from its operator.
func (m *RoutingManager) assign(ctx context.Context, instanceID string, order []string, routed map[string]int64) ([]Assignment, error) {
	type result struct {
		a       Assignment
		release bool
		err     error
	}
	results := make([]result, len(order))
	sem := make(chan struct{}, max(1, m.Parallel))
	var wg sync.WaitGroup
	for i, threadID := range order {
		op, ok := routed[threadID]
		if !ok {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(i int, threadID string, op int64) {
			defer func() { <-sem; wg.Done() }()
			res, err := m.s.changeThread(ctx, threadID, m.context(instanceID), func(t domain.Thread) ([]domain.Event, error) {
				return domain.DecideRoutedAssignment(t, instanceID, op)
			}, nil)
			switch {
			case errors.Is(err, domain.ErrSessionWrongStatus) || errors.Is(err, domain.ErrThreadNotFound):
				results[i] = result{a: Assignment{ThreadID: threadID, OperatorID: op}, release: true}
			case err != nil:
				results[i] = result{err: err}
			case len(res.Events) == 0: // assigned already
			default:
				results[i] = result{a: Assignment{ThreadID: threadID, OperatorID: op, Position: res.Position}}
			}
		}(i, threadID, op)
	}
	wg.Wait()
	var out []Assignment
	var release []Assignment
	var firstErr error
	for i := range order {
		r := results[i]
		switch {
		case r.err != nil && firstErr == nil:
			firstErr = r.err
		case r.release:
			release = append(release, r.a)
		case r.a.ThreadID != "":
			out = append(out, r.a)
		}
	}
	if len(release) > 0 {
		if err := m.release(ctx, instanceID, release, domain.SessionReasonClosed); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return out, firstErr
}

// release frees the capacity of sessions still counted on the given operators.
func (m *RoutingManager) release(ctx context.Context, instanceID string, sessions []Assignment, reason string) error {
	_, _, err := m.changeRoster(ctx, instanceID, func(r domain.Roster) []domain.Event {
		var evs []domain.Event
		for _, a := range sessions {
			if held, ok := r.Holders[a.ThreadID]; ok && held == a.OperatorID {
				evs = append(evs, domain.OperatorSessionReleased{InstanceID: instanceID, OperatorID: a.OperatorID, ThreadID: a.ThreadID, Reason: reason})
			}
		}
		return evs
	})
	return err
}

// Count counts a session on the operator that took it (an accept, or an
// assignment by a person), off its previous holder. revision is the thread
// revision of the event that gave it: when the thread's session changed since
// (the event is handled late), nothing is counted.
func (m *RoutingManager) Count(ctx context.Context, instanceID, threadID string, operatorID int64, revision uint64) error {
	_, _, err := m.changeRoster(ctx, instanceID, func(r domain.Roster) []domain.Event {
		if held, ok := r.Holders[threadID]; ok && held == operatorID {
			return nil
		}
		if m.stale(ctx, threadID, revision) {
			return nil
		}
		return []domain.Event{domain.OperatorSessionCounted{InstanceID: instanceID, OperatorID: operatorID, ThreadID: threadID, FromOperator: r.Holders[threadID]}}
	})
	return err
}

// Release frees a session's capacity (closed, or queued again), unless the
// thread's session changed after revision (the event is handled late, and
// the capacity now counted is a later assignment's).
func (m *RoutingManager) Release(ctx context.Context, instanceID, threadID, reason string, revision uint64) error {
	_, _, err := m.changeRoster(ctx, instanceID, func(r domain.Roster) []domain.Event {
		held, ok := r.Holders[threadID]
		if !ok || m.stale(ctx, threadID, revision) {
			return nil
		}
		return []domain.Event{domain.OperatorSessionReleased{InstanceID: instanceID, OperatorID: held, ThreadID: threadID, Reason: reason}}
	})
	return err
}

// stale tells whether the thread's session changed after revision. A thread
// that cannot be read counts as changed: the sweep and later events correct
// the roster, a wrong count would not be.
func (m *RoutingManager) stale(ctx context.Context, threadID string, revision uint64) bool {
	t, err := m.s.loadThread(ctx, threadID)
	if err != nil {
		return true
	}
	return t.SessionChangedSince(revision)
}

// Holds tells whether the session is counted on an operator who may not hold
// it (inactive or deleted): an assignment that raced the operator's change.
func (m *RoutingManager) Holds(ctx context.Context, instanceID string, operatorID int64) (active bool, err error) {
	r, err := m.roster(ctx, instanceID)
	if err != nil {
		return false, err
	}
	o, ok := r.Operator(operatorID)
	return ok && o.Status == domain.OperatorActive, nil
}

// RequeueSession puts one session of an operator who is no longer active
// back in the queue (the assignment raced the operator's change).
func (m *RoutingManager) RequeueSession(ctx context.Context, instanceID, threadID string, operatorID int64, reason string) error {
	_, err := m.s.changeThread(ctx, threadID, m.context(instanceID), func(t domain.Thread) ([]domain.Event, error) {
		return domain.DecideRequeue(t, operatorID, reason), nil
	}, nil)
	if err != nil {
		return err
	}
	return m.release(ctx, instanceID, []Assignment{{ThreadID: threadID, OperatorID: operatorID}}, reason)
}

// Requeue puts every session an operator holds back in the queue (the
// operator went inactive or was deleted) and frees their capacity.
func (m *RoutingManager) Requeue(ctx context.Context, instanceID string, operatorID int64, reason string) error {
	r, err := m.roster(ctx, instanceID)
	if err != nil {
		return err
	}
	held := r.HeldBy(operatorID)
	var freed []Assignment
	for _, threadID := range held {
		_, err := m.s.changeThread(ctx, threadID, m.context(instanceID), func(t domain.Thread) ([]domain.Event, error) {
			return domain.DecideRequeue(t, operatorID, reason), nil
		}, nil)
		if err != nil {
			return err
		}
		freed = append(freed, Assignment{ThreadID: threadID, OperatorID: operatorID})
	}
	return m.release(ctx, instanceID, freed, reason)
}

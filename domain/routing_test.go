package domain_test

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/domain"
)

// roster folds events as the roster stream would.
func foldRoster(r domain.Roster, events ...domain.Event) domain.Roster {
	for _, e := range events {
		r = domain.EvolveRoster(r, domain.Envelope{Payload: e, Raw: domain.RecordedEvent{Revision: uint64(r.Version + 1)}})
	}
	return r
}

func newRoster(t *testing.T, n, capacity int) domain.Roster {
	t.Helper()
	r := domain.NewRoster("soinst_1")
	items := make([]domain.NewOperator, n)
	for i := range items {
		items[i] = domain.NewOperator{Name: fmt.Sprintf("op %d", i), Capacity: &capacity}
	}
	evs, _, err := domain.DecideCreateOperators(r, items, false)
	require.NoError(t, err)
	r = foldRoster(r, evs...)
	online := domain.PresenceOnline
	for _, id := range r.Order {
		evs, _, err := domain.DecideOperatorChanges(r, id, domain.OperatorChanges{Presence: &online})
		require.NoError(t, err)
		r = foldRoster(r, evs...)
	}
	return r
}

// Fairness: 10,000 sessions over 7 active operators of equal capacity, routed
// in the routing manager's batches of 200, give counts differing by ≤ 1.
func TestRoutingIsFairOverSevenOperators(t *testing.T) {
	r := newRoster(t, 7, 2000)
	counts := map[int64]int{}
	for b := 0; b < 50; b++ {
		threads := make([]string, 200)
		for i := range threads {
			threads[i] = fmt.Sprintf("soth_%d_%d", b, i)
		}
		evs, routed := domain.DecideRoutes(r, threads)
		require.Len(t, routed, 200)
		r = foldRoster(r, evs...)
		for _, op := range routed {
			counts[op]++
		}
	}
	require.Len(t, counts, 7)
	lo, hi := 10_000, 0
	for _, c := range counts {
		lo, hi = min(lo, c), max(hi, c)
	}
	assert.LessOrEqual(t, hi-lo, 1, "counts %v", counts)

	// With a session closed now and then the order still goes round.
	for _, op := range r.Order {
		held := r.HeldBy(op)
		r = foldRoster(r, domain.OperatorSessionReleased{InstanceID: r.InstanceID, OperatorID: op, ThreadID: held[0]})
	}
	evs, routed := domain.DecideRoutes(r, []string{"x1", "x2", "x3", "x4", "x5", "x6", "x7"})
	r = foldRoster(r, evs...)
	seen := map[int64]bool{}
	for _, op := range routed {
		seen[op] = true
	}
	assert.Len(t, seen, 7, "seven new sessions go to seven operators")
}

// Property: whatever happens in between (status, presence and capacity
// changes, closes, accepts), routing never counts a session on an operator
// who is not active, not online or full, and never goes above capacity.
func TestRoutingNeverPicksAnUnavailableOperator(t *testing.T) {
	for seed := int64(1); seed <= 30; seed++ {
		rnd := rand.New(rand.NewSource(seed))
		r := newRoster(t, 1+rnd.Intn(8), 1+rnd.Intn(4))
		next := 0
		for step := 0; step < 400; step++ {
			id := r.Order[rnd.Intn(len(r.Order))]
			switch k := rnd.Intn(10); {
			case k < 2: // status
				st := rnd.Intn(3)
				if evs, _, err := domain.DecideOperatorChanges(r, id, domain.OperatorChanges{Status: &st}); err == nil {
					r = foldRoster(r, evs...)
					if st != domain.OperatorActive { // the manager requeues their sessions
						for _, th := range r.HeldBy(id) {
							r = foldRoster(r, domain.OperatorSessionReleased{InstanceID: r.InstanceID, OperatorID: id, ThreadID: th})
						}
					}
				}
			case k < 4: // presence
				p := domain.Presences[rnd.Intn(3)]
				if evs, _, err := domain.DecideOperatorChanges(r, id, domain.OperatorChanges{Presence: &p}); err == nil {
					r = foldRoster(r, evs...)
				}
			case k < 5: // capacity
				c := rnd.Intn(5)
				if evs, _, err := domain.DecideOperatorChanges(r, id, domain.OperatorChanges{Capacity: &c}); err == nil {
					r = foldRoster(r, evs...)
				}
			case k < 7: // a close
				if held := r.HeldBy(id); len(held) > 0 {
					r = foldRoster(r, domain.OperatorSessionReleased{InstanceID: r.InstanceID, OperatorID: id, ThreadID: held[rnd.Intn(len(held))]})
				}
			case k < 8: // an accept
				next++
				before, _ := r.Operator(id)
				evs, err := domain.DecideAcceptReservation(r, fmt.Sprint("a", next), id)
				if err == nil {
					require.Equal(t, domain.OperatorActive, before.Status)
					require.True(t, before.Capacity == 0 || before.Load < before.Capacity, "seed %d step %d: accept above capacity", seed, step)
					r = foldRoster(r, evs...)
				}
			default: // sessions arrive
				threads := make([]string, 1+rnd.Intn(5))
				for i := range threads {
					next++
					threads[i] = fmt.Sprint("s", next)
				}
				evs, _ := domain.DecideRoutes(r, threads)
				for _, e := range evs {
					c := e.(domain.OperatorSessionCounted)
					o, _ := r.Operator(c.OperatorID)
					require.True(t, o.Available(), "seed %d step %d: routed to %+v", seed, step, o)
					r = foldRoster(r, e)
				}
			}
		}
	}
}

func TestAcceptReservation(t *testing.T) {
	r := newRoster(t, 2, 1)
	evs, err := domain.DecideAcceptReservation(r, "t1", 1)
	require.NoError(t, err)
	r = foldRoster(r, evs...)
	evs, err = domain.DecideAcceptReservation(r, "t1", 1)
	assert.NoError(t, err)
	assert.Empty(t, evs, "reserved already")
	_, err = domain.DecideAcceptReservation(r, "t2", 1)
	assert.ErrorIs(t, err, domain.ErrOperatorAtCapacity)
	_, err = domain.DecideAcceptReservation(r, "t1", 2)
	assert.ErrorIs(t, err, domain.ErrSessionWrongStatus, "counted on operator 1")
	_, err = domain.DecideAcceptReservation(r, "t3", 9)
	assert.ErrorIs(t, err, domain.ErrOperatorNotFound)
	inactive := domain.OperatorInactive
	evs, _, err = domain.DecideOperatorChanges(r, 2, domain.OperatorChanges{Status: &inactive})
	require.NoError(t, err)
	r = foldRoster(r, evs...)
	_, err = domain.DecideAcceptReservation(r, "t3", 2)
	assert.ErrorIs(t, err, domain.ErrOperatorNotAssignable)
}

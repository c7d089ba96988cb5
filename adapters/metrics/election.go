package metrics

import "github.com/prometheus/client_golang/prometheus"

// Election is what this process's follower election does: which roles it
// holds and how often roles change hands.
type Election struct {
	held    *prometheus.GaugeVec
	changes *prometheus.CounterVec
}

func newElection(reg prometheus.Registerer) *Election {
	e := &Election{
		held: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "follower_role_held",
			Help: "1 while this process holds the follower role (a projector or process manager), else 0.",
		}, []string{"role"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "follower_role_changes_total",
			Help: "Roles this process won or gave up, by kind: acquired, failover (won from a holder that died), released, lost.",
		}, []string{"role", "kind"}),
	}
	reg.MustRegister(e.held, e.changes)
	return e
}

// Known reports the roles at 0 before any is won, so every series exists.
func (e *Election) Known(roles []string) {
	for _, r := range roles {
		e.held.WithLabelValues(r).Set(0)
	}
}

// Change records a role won (failover when taken from a holder that had not
// released it) or given up (released cleanly, or lost).
func (e *Election) Change(role string, held, failover, clean bool) {
	switch {
	case held && failover:
		e.held.WithLabelValues(role).Set(1)
		e.changes.WithLabelValues(role, "failover").Inc()
	case held:
		e.held.WithLabelValues(role).Set(1)
		e.changes.WithLabelValues(role, "acquired").Inc()
	case clean:
		e.held.WithLabelValues(role).Set(0)
		e.changes.WithLabelValues(role, "released").Inc()
	default:
		e.held.WithLabelValues(role).Set(0)
		e.changes.WithLabelValues(role, "lost").Inc()
	}
}

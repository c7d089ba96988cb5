package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/socialops/socialops/adapters/eventstore"
	pgstore "github.com/socialops/socialops/adapters/eventstore/postgres"
	"github.com/socialops/socialops/domain"
)

// Append outcomes, the outcome label of socialops_eventstore_append_duration_seconds.
const (
	AppendOK       = "ok"
	AppendConflict = "conflict" // a wrong expected revision (the caller retries or gives up)
	AppendError    = "error"
)

// EventStore records the event store: append latency and outcome for any
// backend (Instrument), and the Postgres store's group-commit batches
// (BatchCommitted, a pgstore.Observer).
type EventStore struct {
	appendDuration *prometheus.HistogramVec
	appendedEvents prometheus.Counter
	batchAppends   prometheus.Histogram
	batchEvents    prometheus.Histogram
	batchDuration  prometheus.Histogram
	batchFailures  prometheus.Counter
}

func newEventStore(reg prometheus.Registerer) *EventStore {
	e := &EventStore{
		appendDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "eventstore", Name: "append_duration_seconds",
			Help:    "Latency of one Append through the event store port (for Postgres, queueing for its group commit included), by outcome.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"outcome"}),
		appendedEvents: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "eventstore", Name: "appended_events_total",
			Help: "Events of successful appends (an idempotent repeat of stored events counts too).",
		}),
		batchAppends: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "eventstore", Name: "batch_appends",
			Help:    "Appends per group-commit transaction of the Postgres store.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10), // 1 … 512, the most a batch holds
		}),
		batchEvents: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "eventstore", Name: "batch_events",
			Help:    "Events proposed per group-commit transaction of the Postgres store.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 13), // 1 … 4096
		}),
		batchDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "eventstore", Name: "batch_duration_seconds",
			Help:    "Time of one group-commit transaction of the Postgres store (two round trips and the commit).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		batchFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "eventstore", Name: "batch_failures_total",
			Help: "Group-commit transactions of the Postgres store that failed as a whole (every append in them failed).",
		}),
	}
	for _, o := range []string{AppendOK, AppendConflict, AppendError} {
		e.appendDuration.WithLabelValues(o)
	}
	reg.MustRegister(e.appendDuration, e.appendedEvents, e.batchAppends, e.batchEvents, e.batchDuration, e.batchFailures)
	return e
}

// BatchCommitted implements pgstore.Observer.
func (e *EventStore) BatchCommitted(st pgstore.BatchStats) {
	e.batchAppends.Observe(float64(st.Appends))
	e.batchEvents.Observe(float64(st.Events))
	e.batchDuration.Observe(st.Duration.Seconds())
	if st.Err != nil {
		e.batchFailures.Inc()
	}
}

var _ pgstore.Observer = (*EventStore)(nil)

// Instrument wraps a store so that every Append is measured. Everything else
// passes through unchanged.
func (e *EventStore) Instrument(s eventstore.Store) eventstore.Store {
	return &instrumentedStore{Store: s, m: e}
}

type instrumentedStore struct {
	eventstore.Store
	m *EventStore
}

func (s *instrumentedStore) Append(ctx context.Context, stream string, expected domain.ExpectedRevision, events ...domain.ProposedEvent) (domain.AppendResult, error) {
	start := time.Now()
	res, err := s.Store.Append(ctx, stream, expected, events...)
	outcome := AppendOK
	switch {
	case err == nil:
		s.m.appendedEvents.Add(float64(len(events)))
	case errors.Is(err, domain.ErrWrongExpectedRevision):
		outcome = AppendConflict
	default:
		outcome = AppendError
	}
	s.m.appendDuration.WithLabelValues(outcome).Observe(time.Since(start).Seconds())
	return res, err
}

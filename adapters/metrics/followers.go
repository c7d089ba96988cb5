package metrics

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

// LogReader is the part of the event store the followers' collector reads.
type LogReader interface {
	HeadPosition(ctx context.Context) (uint64, error)
	ReadAll(ctx context.Context, after uint64, count uint64) ([]domain.RecordedEvent, error)
}

// Followers reports, at scrape time, the position and lag of every follower
// of the log that keeps its checkpoint in projection_checkpoints: the
// projectors and the process managers (delivery-manager today; routing,
// outbound webhooks and later ones as soon as they write a checkpoint there).
// The label is `projector`, the table's key column, whatever the follower is.
type Followers struct {
	checkpoints projections.Querier
	log         LogReader
	names       []string
	now         func() time.Time
	timeout     time.Duration
	logger      *slog.Logger

	position, lagEvents, lagSeconds, head *prometheus.Desc
}

// FollowersOptions tune the collector.
type FollowersOptions struct {
	// Names are reported even before they write a checkpoint (at position 0).
	Names []string
	// Now is the clock lag in seconds is measured with (default time.Now).
	Now func() time.Time
	// Timeout bounds the reads of one scrape (default 5 s).
	Timeout time.Duration
	Logger  *slog.Logger
}

// NewFollowers returns the collector; register it with RegisterFollowers or
// on the registry.
func NewFollowers(checkpoints projections.Querier, log LogReader, opts FollowersOptions) *Followers {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	label := []string{"projector"}
	return &Followers{
		checkpoints: checkpoints, log: log, names: opts.Names, now: opts.Now, timeout: opts.Timeout, logger: opts.Logger,
		position: prometheus.NewDesc(namespace+"_projector_position",
			"Log position up to which the follower (projector or process manager) has applied events: its checkpoint.", label, nil),
		lagEvents: prometheus.NewDesc(namespace+"_projector_lag_events",
			"Log head minus the follower's checkpoint (events on Postgres; commit-position units on KurrentDB).", label, nil),
		lagSeconds: prometheus.NewDesc(namespace+"_projector_lag_seconds",
			"Age of the oldest event the follower has not applied yet; 0 when caught up.", label, nil),
		head: prometheus.NewDesc(namespace+"_eventstore_head_position",
			"Position of the last event in the log.", nil, nil),
	}
}

// RegisterFollowers adds the followers' collector to the registry.
func (m *Metrics) RegisterFollowers(f *Followers) error { return m.Registry.Register(f) }

// Describe implements prometheus.Collector.
func (f *Followers) Describe(ch chan<- *prometheus.Desc) {
	ch <- f.position
	ch <- f.lagEvents
	ch <- f.lagSeconds
	ch <- f.head
}

// Collect implements prometheus.Collector. A read that fails leaves these
// series out of the scrape (logged by the handler); the others are served.
func (f *Followers) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()
	// The checkpoints first: read before the head, no checkpoint can be ahead of it.
	cps, err := projections.Checkpoints(ctx, f.checkpoints)
	if err != nil {
		f.fail(ch, fmt.Errorf("read follower checkpoints: %w", err))
		return
	}
	head, err := f.log.HeadPosition(ctx)
	if err != nil {
		f.fail(ch, fmt.Errorf("read log head: %w", err))
		return
	}
	ch <- prometheus.MustNewConstMetric(f.head, prometheus.GaugeValue, float64(head))
	for _, n := range f.names {
		if _, ok := cps[n]; !ok {
			cps[n] = 0
		}
	}
	names := make([]string, 0, len(cps))
	for n := range cps {
		names = append(names, n)
	}
	sort.Strings(names)
	now := f.now()
	// Followers often share a position: read the next event once per position.
	ages := map[uint64]float64{}
	for _, n := range names {
		cp := cps[n]
		lag, age := uint64(0), 0.0
		if head > cp {
			lag = head - cp
			a, ok := ages[cp]
			if !ok {
				if a, err = f.oldestUnappliedAge(ctx, cp, now); err != nil {
					f.fail(ch, fmt.Errorf("read the event after position %d (%s): %w", cp, n, err))
					return
				}
				ages[cp] = a
			}
			age = a
		}
		ch <- prometheus.MustNewConstMetric(f.position, prometheus.GaugeValue, float64(cp), n)
		ch <- prometheus.MustNewConstMetric(f.lagEvents, prometheus.GaugeValue, float64(lag), n)
		ch <- prometheus.MustNewConstMetric(f.lagSeconds, prometheus.GaugeValue, age, n)
	}
}

// oldestUnappliedAge is how long ago the first event after cp was appended.
func (f *Followers) oldestUnappliedAge(ctx context.Context, cp uint64, now time.Time) (float64, error) {
	evs, err := f.log.ReadAll(ctx, cp, 1)
	if err != nil {
		return 0, err
	}
	if len(evs) == 0 || evs[0].Created.IsZero() {
		return 0, nil
	}
	return max(now.Sub(evs[0].Created).Seconds(), 0), nil
}

func (f *Followers) fail(ch chan<- prometheus.Metric, err error) {
	ch <- prometheus.NewInvalidMetric(f.position, err)
}

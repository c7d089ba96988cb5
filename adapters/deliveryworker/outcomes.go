package deliveryworker

import (
	"sync"

	"github.com/socialops/socialops/domain"
)

// Outcomes of reply deliveries, as Options.OnOutcome reports them.
const (
	// OutcomeDelivered: the provider took the reply (ReplyDelivered).
	OutcomeDelivered = "delivered"
	// OutcomeRetried: one attempt failed and will be retried (DeliveryAttemptFailed).
	OutcomeRetried = "retried"
	// OutcomeFailed: the action ended failed for any reason but the one below.
	OutcomeFailed = "failed"
	// OutcomeUnknown: the action ended failed with delivery_outcome_unknown (a
	// worker stopped between sending and recording the answer).
	OutcomeUnknown = "unknown"
)

// Outcomes lists every outcome, for metrics that pre-create their series.
var Outcomes = []string{OutcomeDelivered, OutcomeRetried, OutcomeFailed, OutcomeUnknown}

// outcomeCounter reports delivery outcomes from the events the worker's
// follower reads anyway, whichever process (or sweep) drove the action: each
// outcome is an event, so counting from the log counts it once per follower
// that reads it. A redelivered batch is not counted twice.
type outcomeCounter struct {
	report   func(outcome string)
	registry *domain.Registry

	mu   sync.Mutex
	seen uint64 // the highest position counted
}

func (c *outcomeCounter) count(batch []domain.RecordedEvent) {
	if c == nil || c.report == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, raw := range batch {
		if raw.Position <= c.seen {
			continue
		}
		c.seen = raw.Position
		switch raw.Type {
		case (domain.ReplyDelivered{}).EventType():
			c.report(OutcomeDelivered)
		case (domain.DeliveryAttemptFailed{}).EventType():
			c.report(OutcomeRetried)
		case (domain.ReplyDeliveryFailed{}).EventType():
			outcome := OutcomeFailed
			if env, err := c.registry.Decode(raw); err == nil {
				if f, ok := env.Payload.(domain.ReplyDeliveryFailed); ok && f.ErrorCode == domain.DeliveryOutcomeUnknown {
					outcome = OutcomeUnknown
				}
			}
			c.report(outcome)
		}
	}
}

package deliveryworker

import (
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/domain"
)

func TestOutcomeCounterCountsEachOutcomeEventOnce(t *testing.T) {
	reg := domain.NewEventRegistry()
	var pos uint64
	recorded := func(e domain.Event) domain.RecordedEvent {
		p, err := reg.Encode(e, domain.Metadata{EventID: uuid.NewString()})
		require.NoError(t, err)
		pos++
		return domain.RecordedEvent{ID: p.ID, Type: p.Type, Data: p.Data, Metadata: p.Metadata, Position: pos}
	}
	batch := []domain.RecordedEvent{
		recorded(domain.DeliveryAttemptFailed{ActionID: "soact_1", ErrorCode: "http_502"}),
		recorded(domain.ReplyDelivered{ActionID: "soact_1"}),
		recorded(domain.ReplyDeliveryFailed{ActionID: "soact_2", ErrorCode: domain.DeliveryRejected}),
		recorded(domain.ReplyDeliveryFailed{ActionID: "soact_3", ErrorCode: domain.DeliveryOutcomeUnknown}),
		recorded(domain.DeliveryReleased{ActionID: "soact_4"}),
	}
	got := map[string]int{}
	c := &outcomeCounter{report: func(o string) { got[o]++ }, registry: reg}
	c.count(batch)
	c.count(batch) // a redelivered batch
	c.count(batch[3:])
	assert.Equal(t, map[string]int{OutcomeRetried: 1, OutcomeDelivered: 1, OutcomeFailed: 1, OutcomeUnknown: 1}, got)

	var off *outcomeCounter
	off.count(batch) // no hook: nothing happens
	(&outcomeCounter{registry: reg}).count(batch)
}

package projections_test

import (
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

// Handles must name exactly the types Apply acts on: a type Apply acts on but
// Handles leaves out would be skipped without a trace.
func TestHandlesAgreesWithApply(t *testing.T) {
	reg := domain.NewEventRegistry()
	for _, p := range projections.All() {
		for _, name := range reg.Types() {
			sample, _ := reg.Sample(name)
			b := &pgx.Batch{}
			err := p.Apply(b, domain.Envelope{Type: name, Payload: sample})
			assert.NoError(t, err)
			assert.Equal(t, b.Len() > 0, p.Handles(name), "projector %s, event %s", p.Name(), name)
		}
	}
}

// A conversation's first webhook projects into the CRM in one statement per
// event (issue 21): the thread's link with the contact's profile, and the
// message's profile change with the sender's identity. Each statement is
// server time at 1,000 webhooks/s.
func TestCRMProjectsEachInboundEventInOneStatement(t *testing.T) {
	p := projections.CRMProjector{}
	for _, payload := range []domain.Event{
		domain.ThreadOpened{ThreadID: "t-1", InstanceID: "i-1", Provider: "telegram", ContactID: "c-1"},
		domain.InboundMessageReceived{ThreadID: "t-1", Provider: "telegram", ContactID: "c-1",
			Sender: domain.Sender{ExternalID: "u-1", DisplayName: "Wei"}},
	} {
		b := &pgx.Batch{}
		require.NoError(t, p.Apply(b, domain.Envelope{Type: payload.EventType(), Payload: payload}))
		assert.Equal(t, 1, b.Len(), payload.EventType())
	}
}

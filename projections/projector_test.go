package projections_test

import (
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"

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

package domain_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/socialops/socialops/domain"
)

// Without a source, a provider event keeps the ids the builds before sources
// derived (events stored by them must still be found by a redelivery); each
// source gets its own.
func TestInboundEventIDsKeepTheirFormAndSeparateSources(t *testing.T) {
	plain := domain.InboundEvent{InstanceID: "soinst_1", Provider: "telegram", EventID: "1"}
	assert.Equal(t, domain.DerivedID(domain.PrefixMessage, "soinst_1", "telegram", "1"), plain.MessageID())
	assert.Equal(t, domain.EventUUID("soinst_1", "telegram", "1", "InboundMessageReceived"), plain.EventUUID("InboundMessageReceived"))

	botA, botB := plain, plain
	botA.Source, botB.Source = "bot-a", "bot-b"
	ids := map[string]bool{plain.MessageID(): true, botA.MessageID(): true, botB.MessageID(): true}
	assert.Len(t, ids, 3)
	assert.NotEqual(t, botA.EventUUID("ChargeApplied"), botB.EventUUID("ChargeApplied"))
	assert.NotEqual(t, botA.ClaimStream(), botB.ClaimStream())
	assert.NotEqual(t, plain.ClaimStream(), botA.ClaimStream())
}

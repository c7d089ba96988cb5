package catalogue_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/catalogue"
	"github.com/socialops/socialops/domain"
)

// Edits and retractions of the integration API are public events.
func TestMessageEditsArePublished(t *testing.T) {
	m, ok := catalogue.Map(domain.Envelope{Payload: domain.MessageEdited{ThreadID: "soth_1", MessageID: "somsg_1", From: "a", To: "b",
		Propagation: domain.PropagatedToProvider}})
	require.True(t, ok)
	assert.Equal(t, catalogue.MessageEdited, m.Event.Event)
	assert.Equal(t, catalogue.MessageEditedData{MessageID: "somsg_1", ConversationID: "soth_1", Content: "b", Propagation: "provider"}, m.Event.Data)
	assert.Equal(t, "soth_1", m.ThreadID)

	m, ok = catalogue.Map(domain.Envelope{Payload: domain.MessageRetracted{ThreadID: "soth_1", MessageID: "somsg_1", Propagation: domain.PropagatedBeforeSend}})
	require.True(t, ok)
	assert.Equal(t, catalogue.MessageRetracted, m.Event.Event)
	assert.True(t, catalogue.Known("message.edited") && catalogue.Known("message.retracted"))
}

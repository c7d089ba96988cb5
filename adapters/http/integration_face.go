package httpapi

import (
	"context"

	"github.com/gin-gonic/gin"

	"github.com/socialops/socialops/adapters/http/integration"
	"github.com/socialops/socialops/commands"
)

// registerIntegration mounts seed 002's REST resources (issue 15).
func (h *handlers) registerIntegration(api *gin.RouterGroup) {
	var messages integration.MessageChanger = noMessageChanger{}
	if h.Messages != nil {
		messages = h.Messages
	}
	integration.Register(api, integration.Deps{
		Commands: h.Commands, Messages: messages, Reads: h.Reads, Auth: h.apiKeyAuth, Instance: instanceOf,
		Context: h.commandContext, Decode: decodeBody, WriteError: func(c *gin.Context, err error) { writeError(c, h.Logger, err) },
		Position: writePosition, ReadYourWrites: h.readYourWrites, BoundOperator: boundOperatorOf,
	})
}

// noMessageChanger stands in when the server runs without a delivery
// manager (only tests do): edits and retractions are unavailable.
type noMessageChanger struct{}

func (noMessageChanger) ChangeMessage(context.Context, commands.ChangeMessage) (commands.MessageChangeResult, error) {
	return commands.MessageChangeResult{}, errUnavailable
}

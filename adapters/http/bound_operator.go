package httpapi

import (
	"github.com/gin-gonic/gin"

	"github.com/socialops/socialops/adapters/postgres"
)

// boundOperatorOf is the operator the request's credential is bound to, if
// it is: such a credential sees only that operator's sessions (issue 15's
// data permissions). Console users and unbound credentials are not bound.
func boundOperatorOf(c *gin.Context) (operatorID int64, ok bool) {
	v, found := c.Get(ctxCredential)
	if !found {
		return 0, false
	}
	key, _ := v.(postgres.APIKey)
	return key.OperatorID, key.OperatorID != 0
}

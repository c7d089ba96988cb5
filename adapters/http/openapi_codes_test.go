package httpapi

import (
	"context"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/http/openapi"
)

// The document's ErrorCode list is exactly the codes the error→status map
// knows: a new code must be documented, and a documented one must exist.
// internal_error is the one code writeError gives without a statusOf entry
// (errors without a code); the document says 500 for it.
func TestEveryErrorCodeIsDocumented(t *testing.T) {
	doc, err := openapi.Load(context.Background())
	require.NoError(t, err)
	var documented []string
	for _, v := range doc.Components.Schemas["ErrorCode"].Value.Enum {
		documented = append(documented, v.(string))
	}
	mapped := []string{errInternal.Code}
	for code := range statusOf {
		if code != errInternal.Code {
			mapped = append(mapped, code)
		}
	}
	sort.Strings(documented)
	sort.Strings(mapped)
	assert.Equal(t, mapped, documented, "components.schemas.ErrorCode in adapters/http/openapi/openapi.yaml vs statusOf in errors.go")
}

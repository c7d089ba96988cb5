package httpapi_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A position above the log head can never be reached: refuse it at once
// instead of holding the query for the whole read-your-writes wait.
func TestPositionAheadOfTheLogRefused(t *testing.T) {
	h := newHarness(t)
	h.instance("u", "support")
	key := h.key("u", "socialops:write", "socialops:read")
	thread, pos := h.openThread("support", key, "e1")
	head := h.head()

	r := h.get("/v1/apps/socialops/support/inbox", key, "X-SocialOps-Position", pos)
	require.Equal(t, 200, r.status, string(r.body))

	for _, path := range []string{"/v1/apps/socialops/support/inbox", "/v1/apps/socialops/support/threads/" + thread + "/messages"} {
		start := time.Now()
		r = h.get(path, key, "X-SocialOps-Position", fmt.Sprint(head+1000))
		assert.Less(t, time.Since(start), time.Second, "answered without waiting")
		require.Equal(t, 400, r.status, string(r.body))
		assert.Equal(t, "position_ahead", r.errorCode())
		assert.Contains(t, r.errorMessage(), fmt.Sprint(head), "names the head")
	}
}

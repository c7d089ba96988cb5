package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	httpapi "github.com/socialops/socialops/adapters/http"
)

type heldRoles []string

func (h heldRoles) Held() []string { return h }

func TestReadyzListsTheRolesThisProcessHolds(t *testing.T) {
	for _, tc := range []struct {
		roles httpapi.RoleHolder
		want  []any
	}{
		{heldRoles{"delivery", "inbox"}, []any{"delivery", "inbox"}},
		{heldRoles(nil), []any{}}, // holds nothing: still ready, and an empty list
		{nil, []any{}},
	} {
		router := httpapi.NewRouter(httpapi.Deps{Roles: tc.roles})
		rec := httptest.NewRecorder()
		router.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		var body map[string]any
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
		assert.Equal(t, tc.want, body["roles"])
	}
}

package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/postgres/pgtest"
)

// The fixed interface of issue 10: instance create|get|set, operator create.
func TestInstanceAndOperatorCLI(t *testing.T) {
	db := pgtest.NewDatabase(t)
	envm := map[string]string{"SOCIALOPS_DATABASE_URL": db}
	code, stdout, stderr := runCLI(envm, "instance", "create", "--owner", "user-1", "--alias", "support", "--name", "Customer Support")
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, "support\n", stdout)

	code, stdout, stderr = runCLI(envm, "instance", "get", "--alias", "support")
	require.Equal(t, 0, code, stderr)
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout), &got))
	assert.Equal(t, "support", got["alias"])
	assert.Equal(t, "Customer Support", got["name"])
	assert.Equal(t, "user-1", got["owner_id"])
	assert.Equal(t, "auto", got["routing"])
	assert.NotZero(t, got["organization_id"])

	code, stdout, stderr = runCLI(envm, "instance", "set", "--alias", "support", "--routing", "manual", "--name", "CS")
	require.Equal(t, 0, code, stderr)
	require.NoError(t, json.Unmarshal([]byte(stdout), &got))
	assert.Equal(t, "manual", got["routing"])
	assert.Equal(t, "CS", got["name"])

	code, _, stderr = runCLI(envm, "instance", "set", "--alias", "support", "--routing", "sometimes")
	assert.Equal(t, 2, code, stderr)

	code, stdout, stderr = runCLI(envm, "operator", "create", "--alias", "support", "--name", "Ann", "--capacity", "3")
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, "1\n", stdout)
	code, stdout, stderr = runCLI(envm, "operator", "create", "--alias", "support", "--name", "Bob")
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, "2", strings.TrimSpace(stdout))
	code, _, _ = runCLI(envm, "operator", "create", "--alias", "support", "--name", "ann")
	assert.NotEqual(t, 0, code, "names are unique per instance")
}

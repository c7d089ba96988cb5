package main

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/postgres/pgtest"
)

func readyRoles(t *testing.T, base string) []string {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode, "a process that holds no role is still ready")
	var body struct {
		Roles []string `json:"roles"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	require.NotNil(t, body.Roles)
	return body.Roles
}

// Two servers on one database: each role runs in exactly one of them, both
// serve HTTP, `projections status` names the holders, and when one stops
// the other takes its roles over at once.
func TestTwoServersShareTheFollowerRoles(t *testing.T) {
	db := pgtest.NewDatabase(t)
	envOf := func() map[string]string {
		return map[string]string{"SOCIALOPS_DATABASE_URL": db, "SOCIALOPS_HTTP_ADDR": freeAddr(t), "SOCIALOPS_LOG_LEVEL": "warn"}
	}
	envA, envB := envOf(), envOf()
	baseA, stopA := startServe(t, envA)
	require.Eventually(t, func() bool { return len(readyRoles(t, baseA)) == len(followerRoles()) }, 10*time.Second, 50*time.Millisecond,
		"the first server wins every role")
	baseB, stopB := startServe(t, envB)
	time.Sleep(2 * time.Second) // a few rounds of contention
	assert.Empty(t, readyRoles(t, baseB), "the second one waits")
	assert.Len(t, readyRoles(t, baseA), len(followerRoles()))

	status := cli(t, envA, "projections", "status")
	lines := strings.Split(strings.TrimSpace(status), "\n")
	require.Len(t, lines, 1+len(followerRoles()), status)
	t.Logf("projections status:\n%s", status)
	holders := map[string]bool{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		assert.Equal(t, "held", f[1], l)
		holders[f[2]] = true
	}
	assert.Len(t, holders, 1, "one process holds them all:\n%s", status)

	began := time.Now()
	assert.Equal(t, 0, stopA())
	require.Eventually(t, func() bool { return len(readyRoles(t, baseB)) == len(followerRoles()) }, 5*time.Second, 20*time.Millisecond)
	t.Logf("every role moved to the second server %s after the first was asked to stop", time.Since(began).Round(time.Millisecond))
	roles := readyRoles(t, baseB)
	want := followerRoles()
	sort.Strings(want)
	assert.Equal(t, want, roles)

	status = cli(t, envB, "projections", "status")
	for _, l := range strings.Split(strings.TrimSpace(status), "\n")[1:] {
		f := strings.Fields(l)
		assert.Equal(t, "held", f[1], l)
		assert.NotContains(t, holders, f[2], "held by the second server now")
	}
	assert.Equal(t, 0, stopB())
}

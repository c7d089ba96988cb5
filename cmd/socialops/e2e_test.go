package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/postgres/pgtest"
)

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// cli runs one sub-command in-process and returns its stdout.
func cli(t *testing.T, envm map[string]string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, env(envm), &stdout, &stderr)
	require.Equal(t, 0, code, "socialops %s: %s", strings.Join(args, " "), stderr.String())
	return stdout.String()
}

// startServe runs `serve` until the returned stop function is called.
func startServe(t *testing.T, envm map[string]string) (base string, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	if _, set := envm["SOCIALOPS_METRICS_ADDR"]; !set {
		envm["SOCIALOPS_METRICS_ADDR"] = freeAddr(t) // never the shared default port
	}
	go func() { done <- run(ctx, []string{"serve"}, env(envm), io.Discard, io.Discard) }()
	base = "http://" + envm["SOCIALOPS_HTTP_ADDR"]
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		require.True(t, time.Now().Before(deadline), "server did not start: %v", err)
		time.Sleep(50 * time.Millisecond)
	}
	return base, func() int {
		cancel()
		select {
		case code := <-done:
			return code
		case <-time.After(30 * time.Second):
			t.Fatal("serve did not shut down")
			return -1
		}
	}
}

func TestServeAdminCommandsAndRestart(t *testing.T) {
	envm := map[string]string{
		"SOCIALOPS_DATABASE_URL": pgtest.NewDatabase(t),
		"SOCIALOPS_HTTP_ADDR":    freeAddr(t),
		"SOCIALOPS_LOG_LEVEL":    "warn",
		// Webhook secrets are stored encrypted.
		"SOCIALOPS_ENCRYPTION_KEY": testEncryptionKey,
	}
	assert.Equal(t, "support\n", cli(t, envm, "instance", "create", "--owner", "user-1", "--alias", "support"))
	key := strings.TrimSpace(cli(t, envm, "apikey", "create", "--owner", "user-1", "--scopes", "socialops:write,socialops:read"))
	assert.True(t, strings.HasPrefix(key, "sk_"), key)
	assert.Equal(t, "", cli(t, envm, "webhook-secret", "set", "--alias", "support", "--provider", "telegram", "--secret", "s3cret-token"))
	credit := strings.TrimSpace(cli(t, envm, "wallet", "credit", "--owner", "user-1", "--micro-usd", "1000000"))
	assert.True(t, strings.HasPrefix(credit, "socrd_"), credit)
	cli(t, envm, "migrate")

	// Bad admin input exits non-zero and says why.
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"instance", "create", "--owner", "user-2", "--alias", "support"}, env(envm), io.Discard, &stderr)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr.String(), "alias_taken")
	stderr.Reset()
	code = run(context.Background(), []string{"apikey", "create", "--owner", "u", "--scopes", "socialops:everything"}, env(envm), io.Discard, &stderr)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr.String(), "unknown_scope")

	post := func(base string) map[string]any {
		req, _ := http.NewRequest("POST", base+"/v1/apps/socialops/support/webhook/generic-webhook",
			strings.NewReader(`{"event_id":"evt_1001","thread_id":"incident_42","title":"Incident opened","text":"API latency is high","user":{"id":"monitor"},"labels":["ops","urgent"]}`))
		req.Header.Set("X-API-Key", key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, 202, resp.StatusCode)
		var out map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		return out
	}

	base, stop := startServe(t, envm)
	resp, err := http.Get(base + "/readyz")
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
	resp.Body.Close()
	first := post(base)
	assert.Equal(t, 0, stop(), "graceful shutdown exits 0")

	// A second start comes back on the same data: the delivery is known.
	base, stop = startServe(t, envm)
	again := post(base)
	assert.Equal(t, true, again["duplicate"])
	assert.Equal(t, first["message_id"], again["message_id"])

	// The read side caught up: projections status, verify, a tampered row, rebuild.
	require.Eventually(t, func() bool {
		lines := strings.Split(strings.TrimSpace(cli(t, envm, "projections", "status")), "\n")
		for _, l := range lines[1:] {
			// FOLLOWER STATE HOLDER SINCE HEARTBEAT CHECKPOINT HEAD LAG PARKED
			if f := strings.Fields(l); len(f) != 9 || f[7] != "0" || f[8] != "0" {
				return false
			}
		}
		return len(lines) == 1+len(followerRoles())
	}, 20*time.Second, 50*time.Millisecond, "every projector and process manager at lag 0")
	assert.Contains(t, cli(t, envm, "projections", "verify"), "inbox: ok")
	pool, err := pgxpool.New(context.Background(), envm["SOCIALOPS_DATABASE_URL"])
	require.NoError(t, err)
	defer pool.Close()
	_, err = pool.Exec(context.Background(), `UPDATE thread_messages SET text = 'edited behind the log'`)
	require.NoError(t, err)
	var out, errOut bytes.Buffer
	code = run(context.Background(), []string{"projections", "verify"}, env(envm), &out, &errOut)
	assert.Equal(t, 1, code, "verify fails on a difference")
	assert.Contains(t, out.String(), "messages: DIFFERS")
	assert.Contains(t, out.String(), "edited behind the log")
	out.Reset()
	errOut.Reset()
	code = run(context.Background(), []string{"projections", "rebuild", "messages"}, env(envm), &out, &errOut)
	require.Equal(t, 0, code, errOut.String())
	assert.Contains(t, out.String(), "rebuilt messages")
	assert.Regexp(t, `rebuild messages: 100\.0% \(position \d+ of \d+\), \d+ events, \d+ events/s, ETA done`, errOut.String(),
		"off a terminal the progress ends in a plain line")
	assert.Contains(t, cli(t, envm, "projections", "verify", "messages"), "messages: ok")
	assert.Equal(t, 0, stop())
}

// healthcheck (the container's HEALTHCHECK) exits 0 against a ready server
// and 1 when nothing listens.
func TestHealthcheckCommand(t *testing.T) {
	envm := map[string]string{
		"SOCIALOPS_DATABASE_URL": pgtest.NewDatabase(t),
		"SOCIALOPS_HTTP_ADDR":    freeAddr(t),
		"SOCIALOPS_LOG_LEVEL":    "warn",
	}
	_, stop := startServe(t, envm)
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"healthcheck"}, env(envm), &out, &errOut)
	assert.Equal(t, 0, code, errOut.String())
	assert.Equal(t, "ready\n", out.String())
	assert.Equal(t, 0, stop())

	errOut.Reset()
	code = run(context.Background(), []string{"healthcheck"}, env(envm), &out, &errOut)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut.String(), "healthcheck")
}

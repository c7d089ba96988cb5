package main

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/postgres/pgtest"
)

// env is an environment holding exactly m (a key set to "" is set, empty).
func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestConfigDefaults(t *testing.T) {
	cfg, err := loadConfig(env(map[string]string{"SOCIALOPS_DATABASE_URL": "postgres://u@127.0.0.1:5432/db"}))
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:8080", cfg.HTTPAddr)
	assert.Equal(t, slog.LevelInfo, cfg.LogLevel)
	assert.Equal(t, "", cfg.EventStoreURL)
	assert.Equal(t, int64(768<<10), cfg.MaxBodyBytes)
	assert.Equal(t, int64(200), cfg.InboundFeeMicroUSD)
}

func TestConfigInvalidValuesNameTheVariable(t *testing.T) {
	base := map[string]string{"SOCIALOPS_DATABASE_URL": "postgres://u@127.0.0.1:5432/db"}
	cases := map[string]string{
		"SOCIALOPS_DATABASE_URL":                  "mysql://x",
		"SOCIALOPS_EVENTSTORE_URL":                "http://kurrent:2113",
		"SOCIALOPS_HTTP_ADDR":                     "not-an-address",
		"SOCIALOPS_LOG_LEVEL":                     "loud",
		"SOCIALOPS_MAX_BODY_BYTES":                "-1",
		"SOCIALOPS_INBOUND_FEE_MICRO_USD":         "0.0002",
		"SOCIALOPS_WEBHOOK_TOLERANCE":             "five minutes",
		"SOCIALOPS_JWT_SECRET":                    "too-short-secret",
		"SOCIALOPS_ENCRYPTION_KEY":                "bm90LTMyLWJ5dGVz", // base64 of 12 bytes
		"SOCIALOPS_AUTH_FAILURE_PER_MINUTE":       "-1",
		"SOCIALOPS_AUTH_FAILURE_BURST":            "0",
		"SOCIALOPS_TRUSTED_PROXIES":               "10.0.0.1, not-a-proxy",
		"SOCIALOPS_DELIVERY_MAX_RESOLVE_FAILURES": "0",
	}
	for variable, value := range cases {
		t.Run(variable, func(t *testing.T) {
			m := map[string]string{}
			for k, v := range base {
				m[k] = v
			}
			m[variable] = value
			var stderr bytes.Buffer
			code := run(context.Background(), []string{"migrate"}, env(m), &bytes.Buffer{}, &stderr)
			assert.Equal(t, 2, code)
			assert.Contains(t, stderr.String(), variable)
		})
	}
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"serve"}, env(map[string]string{}), &bytes.Buffer{}, &stderr)
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr.String(), "SOCIALOPS_DATABASE_URL")
}

func TestConfigAcceptsValidValues(t *testing.T) {
	cfg, err := loadConfig(env(map[string]string{
		"SOCIALOPS_DATABASE_URL":   "postgresql://u@127.0.0.1/db",
		"SOCIALOPS_EVENTSTORE_URL": "esdb://localhost:2113?tls=false",
		"SOCIALOPS_HTTP_ADDR":      "0.0.0.0:9090",
		"SOCIALOPS_LOG_LEVEL":      "debug",
	}))
	require.NoError(t, err)
	assert.Equal(t, "0.0.0.0:9090", cfg.HTTPAddr)
	assert.Equal(t, slog.LevelDebug, cfg.LogLevel)
}

func TestConfigMetricsAddr(t *testing.T) {
	base := func(kv ...string) map[string]string {
		m := map[string]string{"SOCIALOPS_DATABASE_URL": "postgres://u@127.0.0.1:5432/db"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	cfg, err := loadConfig(env(base()))
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:9464", cfg.MetricsAddr, "unset: the default")

	cfg, err = loadConfig(env(base("SOCIALOPS_METRICS_ADDR", "")))
	require.NoError(t, err)
	assert.Equal(t, "", cfg.MetricsAddr, "set to empty: metrics off")

	cfg, err = loadConfig(env(base("SOCIALOPS_METRICS_ADDR", "0.0.0.0:9100")))
	require.NoError(t, err)
	assert.Equal(t, "0.0.0.0:9100", cfg.MetricsAddr)

	for _, bad := range []string{"9464", "localhost", "127.0.0.1:port", "127.0.0.1:70000", "http://127.0.0.1:9464"} {
		_, err := loadConfig(env(base("SOCIALOPS_METRICS_ADDR", bad)))
		var ce *ConfigError
		require.ErrorAs(t, err, &ce, bad)
		assert.Equal(t, "SOCIALOPS_METRICS_ADDR", ce.Variable, bad)
	}
	_, err = loadConfig(env(base("SOCIALOPS_HTTP_ADDR", "127.0.0.1:9000", "SOCIALOPS_METRICS_ADDR", "127.0.0.1:9000")))
	var ce *ConfigError
	require.ErrorAs(t, err, &ce, "the API's own address")
	assert.Equal(t, "SOCIALOPS_METRICS_ADDR", ce.Variable)

	// The program stops, naming the variable.
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"serve"}, env(base("SOCIALOPS_METRICS_ADDR", "nope")), &bytes.Buffer{}, &stderr)
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr.String(), "SOCIALOPS_METRICS_ADDR")
}

// TestServeMetricsOff: SOCIALOPS_METRICS_ADDR= serves no metrics, and a
// metrics address already taken stops serve naming the variable.
func TestServeMetricsOffAndTaken(t *testing.T) {
	db := pgtest.NewDatabase(t)
	envm := map[string]string{"SOCIALOPS_DATABASE_URL": db, "SOCIALOPS_HTTP_ADDR": freeAddr(t), "SOCIALOPS_METRICS_ADDR": "", "SOCIALOPS_LOG_LEVEL": "warn"}
	_, stop := startServe(t, envm)
	assert.Equal(t, 0, stop())

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"serve"}, env(map[string]string{
		"SOCIALOPS_DATABASE_URL": db, "SOCIALOPS_HTTP_ADDR": freeAddr(t), "SOCIALOPS_METRICS_ADDR": taken.Addr().String(), "SOCIALOPS_LOG_LEVEL": "warn",
	}), &bytes.Buffer{}, &stderr)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr.String(), "SOCIALOPS_METRICS_ADDR")
}

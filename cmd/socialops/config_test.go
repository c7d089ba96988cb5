package main

import (
	"bytes"
	"context"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestConfigDefaults(t *testing.T) {
	cfg, err := loadConfig(env(map[string]string{"SOCIALOPS_DATABASE_URL": "postgres://u@127.0.0.1:5432/db"}))
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:8080", cfg.HTTPAddr)
	assert.Equal(t, slog.LevelInfo, cfg.LogLevel)
	assert.Equal(t, "", cfg.EventStoreURL)
	assert.Equal(t, int64(1<<20), cfg.MaxBodyBytes)
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

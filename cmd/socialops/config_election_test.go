package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConfigElectionInterval(t *testing.T) {
	base := func(v string) func(string) (string, bool) {
		m := map[string]string{"SOCIALOPS_DATABASE_URL": "postgres://u@127.0.0.1:5432/db"}
		if v != "" {
			m["SOCIALOPS_ELECTION_INTERVAL"] = v
		}
		return env(m)
	}
	cfg, err := loadConfig(base(""))
	require.NoError(t, err)
	assert.Equal(t, time.Second, cfg.ElectionInterval)
	cfg, err = loadConfig(base("500ms"))
	require.NoError(t, err)
	assert.Equal(t, 500*time.Millisecond, cfg.ElectionInterval)
	for _, bad := range []string{"soon", "0", "-1s", "10ms", "5s"} {
		_, err := loadConfig(base(bad))
		var ce *ConfigError
		require.ErrorAs(t, err, &ce, bad)
		assert.Equal(t, "SOCIALOPS_ELECTION_INTERVAL", ce.Variable, bad)
	}
}

func TestFollowerRolesAreTheProjectorsAndProcessManagers(t *testing.T) {
	assert.Equal(t, []string{"inbox", "messages", "wallet", "actions", "channels", "operators", "sessions", "crm", "reports", "delivery", "webhooks", "routing", "assistant", "statistics"}, followerRoles())
}

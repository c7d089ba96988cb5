package election

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/postgres/pgtest"
)

// The dedicated connection asks Postgres to probe an idle holder and to give
// up on one that stops answering, so that its locks are freed within seconds.
func TestDedicatedConnectionHasServerKeepalives(t *testing.T) {
	e, err := New(pgtest.NewDatabase(t)+"&pool_max_conns=3", Options{Holder: "h"})
	require.NoError(t, err)
	ctx := context.Background()
	conn, err := pgx.ConnectConfig(ctx, e.cfg)
	require.NoError(t, err)
	defer conn.Close(ctx)
	for name, want := range map[string]string{
		"tcp_keepalives_idle": "3", "tcp_keepalives_interval": "1", "tcp_keepalives_count": "3",
		"tcp_user_timeout": "6000", "application_name": "socialops-election h",
	} {
		var got string
		require.NoError(t, conn.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&got))
		assert.Equal(t, want, got, name)
	}
}

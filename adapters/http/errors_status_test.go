package httpapi_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	httpapi "github.com/socialops/socialops/adapters/http"
	"github.com/socialops/socialops/adapters/postgres/pgtest"
)

// An error the HTTP layer cannot classify is the server's fault: 500, so a
// provider retries the delivery and 5xx alerts fire. Never a 4xx.
func TestUnclassifiedErrorsAnswer500(t *testing.T) {
	t.Run("recovered panic", func(t *testing.T) {
		// No command service: the webhook handler dereferences nil and panics.
		h := newHarnessWith(t, pgtest.NewPool(t), func(d *httpapi.Deps) { d.Commands = nil })
		h.instance("u", "support")
		key := h.key("u", "socialops:write")
		r := h.do("POST", "/v1/apps/socialops/support/webhook/generic-webhook", []byte(seedBody), jsonHeaders(key))
		require.Equal(t, 500, r.status, string(r.body))
		assert.Equal(t, "internal_error", r.errorCode())
		assert.Equal(t, false, r.json["success"])
	})

	t.Run("database error on a webhook", func(t *testing.T) {
		h := newHarness(t)
		h.instance("u", "support")
		key := h.key("u", "socialops:write")
		// The event store's insert fails with an ordinary SQL error (not a lost connection).
		_, err := h.pool.Exec(context.Background(), `
			CREATE FUNCTION refuse_event() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN RAISE EXCEPTION 'disk quota exceeded (test)'; END $$;
			CREATE TRIGGER refuse_event BEFORE INSERT ON event_store_events FOR EACH ROW EXECUTE FUNCTION refuse_event();`)
		require.NoError(t, err)
		r := h.do("POST", "/v1/apps/socialops/support/webhook/generic-webhook", []byte(seedBody), jsonHeaders(key))
		require.Equal(t, 500, r.status, string(r.body))
		assert.Equal(t, "internal_error", r.errorCode())
		assert.NotContains(t, string(r.body), "disk quota", "the SQL error stays in the logs")
		assert.Equal(t, uint64(0), h.head(), "nothing stored")
	})
}

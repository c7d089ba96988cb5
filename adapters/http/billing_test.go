package httpapi_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/commands"
)

func TestBillingAndActionsEndpoints(t *testing.T) {
	h := newHarness(t)
	h.instance("alice", "support")
	h.instance("bob", "bobs")
	key := h.key("alice", "socialops:write", "socialops:read")
	bobKey := h.key("bob", "socialops:read")
	_, err := h.commands.CreditWallet(context.Background(), commands.CreditWallet{OwnerID: "alice", AmountMicroUSD: 1_000})
	require.NoError(t, err)
	thread, _ := h.openThread("support", key, "e1")
	h.openThread("support", key, "e2")
	manage := h.token("alice", "service:manage")
	reply := h.console("POST", "/support/threads/"+thread+"/replies", manage, `{"text":"on it"}`)
	require.Equal(t, 201, reply.status)
	pos := reply.header.Get("X-SocialOps-Position")

	r := h.get("/v1/apps/socialops/support/billing/balance", key, "X-SocialOps-Position", pos)
	require.Equal(t, 200, r.status, string(r.body))
	assert.EqualValues(t, 600, data(r)["balance_micro_usd"], "1,000 credited, two inbound messages at 200")
	assert.Equal(t, "0.000600", data(r)["balance_usd"])

	r = h.get("/v1/apps/socialops/support/billing/ledger?limit=2", key)
	require.Equal(t, 200, r.status)
	assert.EqualValues(t, 3, data(r)["total"])
	entries := data(r)["entries"].([]any)
	require.Len(t, entries, 2, "paginated")
	newest := entries[0].(map[string]any)
	assert.Equal(t, "charge", newest["kind"])
	assert.EqualValues(t, -200, newest["amount_micro_usd"])
	assert.Equal(t, "inbound_message", newest["reason"])
	r = h.get("/v1/apps/socialops/support/billing/ledger?page=2&limit=2", key)
	last := data(r)["entries"].([]any)[0].(map[string]any)
	assert.Equal(t, "credit", last["kind"])
	assert.EqualValues(t, 1000, last["amount_micro_usd"])

	r = h.console("GET", "/support/billing/balance", h.token("alice", "service:read"), "")
	require.Equal(t, 200, r.status)
	assert.EqualValues(t, 600, data(r)["balance_micro_usd"])
	assert.Equal(t, 404, h.get("/v1/apps/socialops/support/billing/balance", bobKey).status, "another owner's wallet is not found")

	r = h.get("/v1/apps/socialops/support/threads/"+thread+"/actions", key, "X-SocialOps-Position", pos)
	require.Equal(t, 200, r.status, string(r.body))
	actions := data(r)["actions"].([]any)
	require.Len(t, actions, 1)
	a := actions[0].(map[string]any)
	assert.Equal(t, "send_reply", a["action_type"])
	assert.Equal(t, data(reply)["action"].(map[string]any)["action_id"], a["action_id"])
	assert.Contains(t, []any{"pending", "processing", "failed", "completed"}, a["status"])
	r = h.console("GET", "/support/threads/"+thread+"/actions", manage, "")
	assert.Equal(t, 200, r.status)
	assert.Equal(t, 404, h.get(fmt.Sprintf("/v1/apps/socialops/support/threads/%s/actions", "soth_nope"), key).status)
}

package httpapi_test

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	pgstore "github.com/socialops/socialops/adapters/eventstore/postgres"
	httpapi "github.com/socialops/socialops/adapters/http"
	"github.com/socialops/socialops/adapters/postgres"
	"github.com/socialops/socialops/adapters/postgres/pgtest"
	"github.com/socialops/socialops/adapters/realtime"
	"github.com/socialops/socialops/catalogue"
	"github.com/socialops/socialops/domain"
)

// newRealtimeHarness is the service with a realtime hub (presence through
// the operator command, a short grace period).
func newRealtimeHarness(t *testing.T) *harness {
	return newHarnessWith(t, pgtest.NewPool(t), func(d *httpapi.Deps) {
		hub := realtime.New(d.Events.(*pgstore.Store), realtime.Options{Logger: d.Logger, Registry: d.Registry,
			Presence: realtime.PresenceVia(d.Commands), PresenceGrace: 200 * time.Millisecond})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = hub.Run(ctx); close(done) }()
		<-hub.Ready()
		t.Cleanup(func() { hub.Close(context.Background()); cancel(); <-done })
		d.Hub = hub
	})
}

func (h *harness) dialWS(path string, header map[string]string) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	opts := &websocket.DialOptions{HTTPHeader: map[string][]string{}}
	for k, v := range header {
		opts.HTTPHeader[k] = []string{v}
	}
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(h.srv.URL, "http")+path, opts)
	return c, err
}

func TestRealtimeAuthFailures(t *testing.T) {
	h := newRealtimeHarness(t)
	h.instance("alice", "support")
	h.instance("bob", "other")
	write := h.key("alice", "socialops:write", "socialops:read")
	writeOnly := h.key("alice", "socialops:write")
	op := h.consoleOperator("support", h.token("alice", httpapi.PermissionManage), "Ann")
	base := "/v1/apps/socialops/support/ws"
	for _, tc := range []struct {
		name, path string
		header     map[string]string
		status     int
		code       string
	}{
		{"no token", base, nil, 401, "unauthenticated"},
		{"unknown key", base + "?token=sk_nope", nil, 401, "invalid_api_key"},
		{"bad jwt", base + "?token=a.b.c", nil, 401, "invalid_token"},
		{"key without read", base, bearerKey(writeOnly), 403, "missing_scope"},
		{"jwt without read", base + "?token=" + h.token("alice", "nothing"), nil, 403, "missing_permission"},
		{"another owner's instance", "/v1/apps/socialops/other/ws?token=" + write, nil, 404, "instance_not_found"},
		{"unknown operator", base + "/cs/999?token=" + write, nil, 404, "operator_not_found"},
		{"csId not a number", base + "/cs/abc?token=" + write, nil, 404, "operator_not_found"},
		{"bad since", base + "/cs/" + op + "?since=-1&token=" + write, nil, 400, "invalid_parameter"},
	} {
		r := h.do("GET", tc.path, nil, tc.header)
		assert.Equal(t, tc.status, r.status, "%s: %s", tc.name, r.body)
		assert.Equal(t, tc.code, r.errorCode(), tc.name)
	}

	// Both ways of sending each kind of token open the socket.
	for _, tc := range []struct {
		path   string
		header map[string]string
	}{
		{base + "/cs/" + op + "?token=" + write, nil},
		{base + "/cs/" + op, bearerKey(write)},
		{base + "?token=" + h.token("alice", httpapi.PermissionRead), nil},
		{base, bearer(h.token("alice", httpapi.PermissionRead))},
	} {
		c, err := h.dialWS(tc.path, tc.header)
		require.NoError(t, err, tc.path)
		_, b, err := c.Read(context.Background())
		require.NoError(t, err)
		assert.Contains(t, string(b), `"type":"connected"`)
		_ = c.Close(websocket.StatusNormalClosure, "")
	}

	// A browser from a foreign origin is refused.
	_, err := h.dialWS(base+"?token="+write, map[string]string{"Origin": "https://evil.example"})
	assert.Error(t, err)
}

// An operator's workbench connection sets them online through the operator
// command (an agent.status_changed event, the roster available to routing);
// the last one closing sets them offline after the grace period.
func TestRealtimePresenceEvents(t *testing.T) {
	h := newRealtimeHarness(t)
	inst := h.instance("alice", "support")
	key := h.key("alice", "socialops:read")
	op := h.consoleOperator("support", h.token("alice", httpapi.PermissionManage), "Ann")
	watch, err := h.dialWS("/v1/apps/socialops/support/ws?token="+key, nil)
	require.NoError(t, err)
	defer watch.CloseNow()
	_, _, err = watch.Read(context.Background())
	require.NoError(t, err)

	presence := func() string {
		r, err := h.commands.Roster(context.Background(), inst.ID)
		require.NoError(t, err)
		for _, o := range r.Operators {
			return o.Presence
		}
		return ""
	}
	require.Equal(t, domain.PresenceOffline, presence())
	c, err := h.dialWS("/v1/apps/socialops/support/ws/cs/"+op+"?token="+key, nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return presence() == domain.PresenceOnline }, 3*time.Second, 20*time.Millisecond)
	r, _ := h.commands.Roster(context.Background(), inst.ID)
	for _, o := range r.Operators {
		assert.True(t, o.Available(), "routing may now give them sessions")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, b, err := watch.Read(ctx)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"action":"status_change"`)
	assert.Contains(t, string(b), `"agent_id":"`+op+`","status":"online"`)

	require.NoError(t, c.Close(websocket.StatusNormalClosure, ""))
	time.Sleep(50 * time.Millisecond)
	assert.Equal(t, domain.PresenceOnline, presence(), "within the grace period")
	require.Eventually(t, func() bool { return presence() == domain.PresenceOffline }, 3*time.Second, 20*time.Millisecond)
	_, b, err = watch.Read(ctx)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"status":"offline"`)

	// The log holds the presence changes the catalogue publishes as agent.status_changed.
	n := 0
	for _, e := range h.events() {
		if m, ok := catalogue.Map(e); ok && m.Event.Event == catalogue.AgentStatusChanged {
			n++
		}
	}
	assert.Equal(t, 2, n)
}

// Every integration credential opens the sockets with its own policy: an
// OAuth2 access token works, an instance-limited key only on its instance,
// a key bound to an operator only on that operator's workbench.
func TestRealtimeWithIntegrationCredentials(t *testing.T) {
	h := newRealtimeHarness(t)
	h.instance("alice", "support")
	h.instance("alice", "sales")
	manage := h.token("alice", httpapi.PermissionManage)
	ann := h.consoleOperator("support", manage, "Ann")
	ben := h.consoleOperator("support", manage, "Ben")
	h.settle()
	clientID, secret, _, err := h.tenancy.CreateOAuthClient(context.Background(), postgres.CredentialSpec{
		InstanceAlias: "support", Scopes: []string{postgres.ScopeRead}})
	require.NoError(t, err)
	body, hd := form(url.Values{"grant_type": {"client_credentials"}})
	hd["Authorization"] = basic(clientID, secret)
	r := h.do("POST", "/oauth/token", body, hd)
	require.Equal(t, 200, r.status, string(r.body))
	token := r.json["access_token"].(string)
	c, err := h.dialWS("/v1/apps/socialops/support/ws?token="+token, nil)
	require.NoError(t, err)
	_ = c.Close(websocket.StatusNormalClosure, "")
	assert.Equal(t, 404, h.do("GET", "/v1/apps/socialops/sales/ws?token="+token, nil, nil).status, "the client's instance only")

	annID, _ := strconv.ParseInt(ann, 10, 64)
	bound, _ := h.credential(postgres.CredentialSpec{OwnerID: "alice", InstanceAlias: "support", OperatorID: annID,
		Scopes: []string{postgres.ScopeRead}})
	c, err = h.dialWS("/v1/apps/socialops/support/ws/cs/"+ann+"?token="+bound, nil)
	require.NoError(t, err)
	_ = c.Close(websocket.StatusNormalClosure, "")
	r = h.do("GET", "/v1/apps/socialops/support/ws/cs/"+ben+"?token="+bound, nil, nil)
	assert.Equal(t, 403, r.status)
	assert.Equal(t, "forbidden", r.errorCode())
}

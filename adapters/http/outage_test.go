package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	httpapi "github.com/socialops/socialops/adapters/http"
	"github.com/socialops/socialops/adapters/postgres"
	"github.com/socialops/socialops/adapters/postgres/pgtest"
)

// tcpProxy stands between the service and Postgres so a test can take the
// database away (connections reset, new ones refused) and bring it back.
type tcpProxy struct {
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	p := &tcpProxy{target: target, conns: map[net.Conn]bool{}}
	require.NoError(t, p.listen("127.0.0.1:0"))
	p.addr = p.ln.Addr().String()
	t.Cleanup(p.cut)
	return p
}

func (p *tcpProxy) listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.pipe(c)
		}
	}()
	return nil
}

func (p *tcpProxy) pipe(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[up] = true, true
	p.mu.Unlock()
	go func() { _, _ = io.Copy(up, c); up.Close(); c.Close() }()
	_, _ = io.Copy(c, up)
	c.Close()
	up.Close()
}

// cut closes every connection and refuses new ones, like a stopped server.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

func (p *tcpProxy) restore(t *testing.T) {
	require.Eventually(t, func() bool { return p.listen(p.addr) == nil }, 5*time.Second, 50*time.Millisecond)
}

func TestDatabaseDownAnswers503AndRecovers(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	proxy := newTCPProxy(t, u.Host)
	u.Host = proxy.addr
	pool, err := postgres.Connect(context.Background(), u.String())
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	h := newHarnessWith(t, pool, func(d *httpapi.Deps) { d.RequestTimeout = 2 * time.Second })
	h.instance("u", "support")
	key := h.key("u", "socialops:write", "socialops:read")
	post := func(eventID string) response {
		body := fmt.Sprintf(`{"event_id":%q,"thread_id":%q,"text":"x"}`, eventID, eventID)
		return h.do("POST", "/v1/apps/socialops/support/webhook/generic-webhook", []byte(body), jsonHeaders(key))
	}
	require.Equal(t, 202, post("before").status)

	proxy.cut()
	assert.Equal(t, 200, h.do("GET", "/healthz", nil, nil).status, "the process stays up")
	require.Eventually(t, func() bool {
		r := h.do("GET", "/readyz", nil, nil)
		checks, _ := r.json["checks"].(map[string]any)
		return r.status == 503 && checks["database"] == "down"
	}, 10*time.Second, 50*time.Millisecond, "/readyz names the database")

	start := time.Now()
	r := post("during")
	assert.Equal(t, 503, r.status, string(r.body))
	assert.Equal(t, "service_unavailable", r.errorCode())
	assert.NotEmpty(t, r.header.Get("Retry-After"))
	assert.Less(t, time.Since(start), 4*time.Second, "answered within the request timeout")
	r = h.get("/v1/apps/socialops/support/inbox", key)
	assert.Equal(t, 503, r.status)

	proxy.restore(t)
	// Clients retry with the same event id, as providers do.
	var accepted response
	require.Eventually(t, func() bool {
		accepted = post("during")
		return accepted.status == 202
	}, 20*time.Second, 100*time.Millisecond, "recovers by itself")
	require.Eventually(t, func() bool { return h.do("GET", "/readyz", nil, nil).status == 200 }, 20*time.Second, 100*time.Millisecond)
	q := h.get("/v1/apps/socialops/support/inbox", key, "X-SocialOps-Position", accepted.header.Get("X-SocialOps-Position"))
	require.Equal(t, 200, q.status)
	assert.Empty(t, q.header.Get("X-SocialOps-Stale"), "projectors resumed from their checkpoints")
	assert.Len(t, threadIDs(q), 2)
	assert.Equal(t, map[string]int{"InboundEventClaimed": 2, "ThreadOpened": 2, "SessionQueued": 2, "InboundMessageReceived": 2, "ChargeApplied": 2}, countTypes(h.events()),
		"nothing lost, nothing doubled")
}

func TestRateLimitPerKey(t *testing.T) {
	h := newHarnessWith(t, pgtest.NewPool(t), func(d *httpapi.Deps) { d.RateLimitRPS, d.RateLimitBurst = 1, 3 })
	h.instance("u", "support")
	key := h.key("u", "socialops:read")
	other := h.key("u", "socialops:read")
	for i := 0; i < 3; i++ {
		assert.Equal(t, 200, h.get("/v1/apps/socialops/support/inbox", key).status, "within the burst")
	}
	r := h.get("/v1/apps/socialops/support/inbox", key)
	require.Equal(t, 429, r.status)
	assert.Equal(t, "rate_limited", r.errorCode())
	secs, err := strconv.Atoi(r.header.Get("Retry-After"))
	require.NoError(t, err)
	assert.GreaterOrEqual(t, secs, 1)
	assert.Equal(t, 200, h.get("/v1/apps/socialops/support/inbox", other).status, "another key has its own bucket")
	time.Sleep(1100 * time.Millisecond)
	assert.Equal(t, 200, h.get("/v1/apps/socialops/support/inbox", key).status, "the bucket refills")

	// Console users and signed webhooks have buckets too.
	tok := h.token("u", "service:read")
	codes := []int{}
	for i := 0; i < 5; i++ {
		codes = append(codes, h.console("GET", "/instances", tok, "").status)
	}
	assert.Equal(t, []int{200, 200, 200, 429, 429}, codes)
	require.NoError(t, h.tenancy.SetWebhookSecret(context.Background(), "support", "telegram", "tg-secret-123"))
	before := h.head()
	codes = codes[:0]
	for i := 0; i < 5; i++ {
		body := fmt.Sprintf(`{"update_id":%d,"message":{"message_id":1,"chat":{"id":5,"type":"private","first_name":"A"},"date":1,"text":"x"}}`, 100+i)
		r := h.do("POST", "/v1/apps/socialops/support/webhook/telegram", []byte(body), map[string]string{
			"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": "tg-secret-123"})
		codes = append(codes, r.status)
	}
	assert.Equal(t, []int{202, 202, 202, 429, 429}, codes)
	assert.Greater(t, h.head(), before)
	assert.Equal(t, 3, countTypes(h.events())["InboundMessageReceived"], "a limited delivery stores nothing")
}

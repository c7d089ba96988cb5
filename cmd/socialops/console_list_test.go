package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// holdingProxy stands between the browser and `serve`. While holding, it
// keeps back each inbox list request that has no assignee filter until
// release: a slow answer to a request the page made before its filters
// changed.
type holdingProxy struct {
	srv     *httptest.Server
	mu      sync.Mutex
	holding bool
	gate    chan struct{}
	held    chan struct{} // one value per request kept back
	done    chan struct{} // one value per kept-back request answered
}

func newHoldingProxy(t *testing.T, target string) *holdingProxy {
	u, err := url.Parse(target)
	require.NoError(t, err)
	rp := httputil.NewSingleHostReverseProxy(u)
	p := &holdingProxy{gate: make(chan struct{}), held: make(chan struct{}, 16), done: make(chan struct{}, 16)}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		hold := p.holding && r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/inbox") && r.URL.Query().Get("assignee") == ""
		gate := p.gate
		p.mu.Unlock()
		if !hold {
			rp.ServeHTTP(w, r)
			return
		}
		p.held <- struct{}{}
		<-gate
		rp.ServeHTTP(w, r)
		p.done <- struct{}{}
	}))
	t.Cleanup(func() { p.release(); p.srv.Close() })
	return p
}

func (p *holdingProxy) hold() {
	p.mu.Lock()
	p.holding = true
	p.mu.Unlock()
}

// release lets the kept-back requests through and stops holding.
func (p *holdingProxy) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.holding {
		p.holding = false
		close(p.gate)
	}
}

func receive(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(20 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// An answer for the old filters that lands after the filters changed is
// dropped: the list keeps showing what the new filters select.
func TestConsoleDropsAListAnswerForOldFilters(t *testing.T) {
	r := newConsoleRig(t)
	var assigned string
	for i := 0; i < 4; i++ {
		assigned = r.generic(fmt.Sprintf("evt_old_%d", i), fmt.Sprintf("old_%d", i), fmt.Sprintf("Alert %d", i), "disk full")
	}
	st, body := r.call("POST", "/console/socialops/support/operators", "Bearer "+r.token, `{"name":"Mei"}`)
	require.Equal(t, 201, st, body)
	var created struct {
		Data struct {
			Operator struct {
				ID int64 `json:"id"`
			} `json:"operator"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &created))
	mei := fmt.Sprint(created.Data.Operator.ID)
	st, body = r.call("PATCH", "/console/socialops/support/threads/"+assigned, "Bearer "+r.token, `{"assignee":"`+mei+`"}`)
	require.Equal(t, 200, st, body)

	proxy := newHoldingProxy(t, r.base)
	ctx := browser(t)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(strings.Replace(r.link("service:manage"), r.base, proxy.srv.URL, 1))))
	waitFor(t, ctx, "the list", `document.querySelectorAll('#thread-list .thread-item').length === 4`)
	waitFor(t, ctx, "the operators in the filter", `document.querySelectorAll('#filter-assignee option').length === 2`)
	waitFor(t, ctx, "the live connection", `document.getElementById('live-status').classList.contains('on')`)

	// A new conversation's push makes the page refetch the list; that
	// answer is kept back while the filter changes.
	proxy.hold()
	r.generic("evt_new", "new_0", "Alert new", "disk full")
	receive(t, proxy.held, "the live refetch of the list")
	require.NoError(t, chromedp.Do(ctx, choose("#filter-assignee", mei)))
	waitFor(t, ctx, "the assignee's threads", fmt.Sprintf(`document.querySelectorAll('#thread-list .thread-item').length === 1 && !!document.querySelector('[data-thread-id=%q]')`, assigned))

	proxy.release()
	receive(t, proxy.done, "the kept-back answer")
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		n := eval[int](t, ctx, `document.querySelectorAll('#thread-list .thread-item').length`)
		require.Equal(t, 1, n, "the answer for the old filters replaced the list")
		time.Sleep(50 * time.Millisecond)
	}
	require.Equal(t, "1", eval[string](t, ctx, `document.getElementById('thread-total').textContent.match(/\d+/)[0]`), "the total is the filtered one")
}

package main

import (
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
// keeps back each request that matches until release: a slow answer to a
// request the page made before the user asked for something else.
type holdingProxy struct {
	srv     *httptest.Server
	mu      sync.Mutex
	holding bool
	match   func(*http.Request) bool
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
		hold := p.holding && r.Method == http.MethodGet && p.match(r)
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

// hold keeps back the requests that match from now on.
func (p *holdingProxy) hold(match func(*http.Request) bool) {
	p.mu.Lock()
	p.holding, p.match = true, match
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
	assigned := r.genericThreads(4, "old", "disk full")
	mei := r.assignToNewOperator("Mei", assigned)

	proxy := newHoldingProxy(t, r.base)
	ctx := browser(t)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(strings.Replace(r.link("service:manage"), r.base, proxy.srv.URL, 1))))
	waitFor(t, ctx, "the list", `document.querySelectorAll('#thread-list .thread-item').length === 4`)
	waitFor(t, ctx, "the operators in the filter", `document.querySelectorAll('#filter-assignee option').length === 2`)
	waitFor(t, ctx, "the live connection", `document.getElementById('live-status').classList.contains('on')`)

	// A new conversation's push makes the page refetch the list; that
	// answer is kept back while the filter changes.
	proxy.hold(func(r *http.Request) bool {
		return strings.HasSuffix(r.URL.Path, "/inbox") && r.URL.Query().Get("assignee") == ""
	})
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

// The answers for a date range asked before the last one are dropped: the
// reports show the range asked last.
func TestConsoleDropsReportsOfAnEarlierRange(t *testing.T) {
	r := newConsoleRig(t)
	r.generic("evt_rep_1", "rep_1", "Alert 1", "disk full")
	r.generic("evt_rep_2", "rep_2", "Alert 2", "disk full")
	proxy := newHoldingProxy(t, r.base)
	ctx := browser(t)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(strings.Replace(r.link("service:manage"), r.base, proxy.srv.URL, 1))))
	require.NoError(t, chromedp.Do(ctx, clickOn("#tab-reports")))
	today := time.Now().UTC().Format("2006-01-02")
	show := func(start, end string) {
		t.Helper()
		_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(`(() => { const f = document.getElementById('report-form');
			f.elements.start.value = %q; f.elements.end.value = %q; f.requestSubmit(); return true })()`, start, end)))
		require.NoError(t, err)
	}
	totals := `document.getElementById('report-totals') ? document.getElementById('report-totals').textContent : ''`
	// The reports projector trails the log: ask again until it has both.
	deadline := time.Now().Add(20 * time.Second)
	for {
		waitFor(t, ctx, "an answer", `!!document.querySelector('#report-totals, #charts .error')`)
		if strings.Contains(eval[string](t, ctx, totals), "Conversations: 2") {
			break
		}
		require.True(t, time.Now().Before(deadline), "the reports never showed both conversations: %q", eval[string](t, ctx, `document.getElementById('charts').textContent`))
		time.Sleep(200 * time.Millisecond)
		show(today, today)
	}

	// A range with nothing in it is asked for, and its answers held back;
	// then today again.
	proxy.hold(func(r *http.Request) bool {
		return strings.HasSuffix(r.URL.Path, "/reports") && r.URL.Query().Get("start_date") == "2020-01-01"
	})
	show("2020-01-01", "2020-01-02")
	receive(t, proxy.held, "the request for the empty range")
	receive(t, proxy.held, "the second request for the empty range")
	show(today, today)
	waitFor(t, ctx, "today's reports", `(`+totals+`).includes('Conversations: 2')`)

	proxy.release()
	receive(t, proxy.done, "a held answer")
	receive(t, proxy.done, "the other held answer")
	deadline = time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		require.Contains(t, eval[string](t, ctx, totals), "Conversations: 2", "the earlier range's answer replaced the reports")
		time.Sleep(50 * time.Millisecond)
	}
}

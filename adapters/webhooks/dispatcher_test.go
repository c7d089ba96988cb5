package webhooks_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/webhooks"
	"github.com/socialops/socialops/catalogue"
	"github.com/socialops/socialops/commands"
	"github.com/socialops/socialops/domain"
)

// A delivery carries the Standard Webhooks headers, verified with the
// specification's reference library, and the catalogue's payload.
func TestDeliveryIsSignedPerStandardWebhooks(t *testing.T) {
	e := newEnv(t, nil)
	rcv := newReceiver(t, nil)
	sub, secret := e.subscribe(rcv.URL)
	assert.True(t, strings.HasPrefix(secret, "whsec_"))
	e.start()
	thread := e.inbound("hello <world> & co")

	waitFor(t, "two deliveries", 5*time.Second, func() bool { return len(rcv.all()) >= 2 })
	wh, err := standardwebhooks.NewWebhook(secret)
	require.NoError(t, err)
	seen := map[string]map[string]any{}
	for _, h := range rcv.all() {
		require.NoError(t, wh.Verify(h.body, h.header), "reference library verification")
		assert.Equal(t, webhooks.DeliveryID(sub.ID, h.event["id"].(string)), h.header.Get("webhook-id"))
		assert.Equal(t, "application/json", h.header.Get("Content-Type"))
		seen[h.event["event"].(string)] = h.event
	}
	created := seen[catalogue.ConversationCreated]
	require.NotNil(t, created)
	assert.Equal(t, thread, created["data"].(map[string]any)["conversation_id"])
	msg := seen[catalogue.MessageReceived]
	require.NotNil(t, msg)
	data := msg["data"].(map[string]any)
	assert.Equal(t, "hello <world> & co", data["content"])
	assert.Equal(t, thread, data["conversation_id"])
	assert.True(t, strings.HasPrefix(data["message_id"].(string), "somsg_"))
	assert.True(t, strings.HasPrefix(msg["id"].(string), "evt_"))
	assert.InDelta(t, time.Now().Unix(), msg["timestamp"].(float64), 30)
	for _, h := range rcv.all() {
		assert.NotContains(t, string(h.body), "ext-user-1", "external ids never leave")
		assert.NotContains(t, string(h.body), "raw_payload")
	}
	waitFor(t, "succeeded rows", 5*time.Second, func() bool {
		ds := e.deliveries(sub.ID)
		return len(ds) == 2 && ds[0].Status == webhooks.StatusSucceeded && ds[1].Status == webhooks.StatusSucceeded
	})
	a := e.deliveries(sub.ID)[0].Attempts
	require.Len(t, a, 1)
	assert.Equal(t, 200, *a[0].StatusCode)
	assert.True(t, a[0].Succeeded)
	assert.EqualValues(t, 2, e.outcomes(webhooks.OutcomeDelivered))
}

// 500, a timeout and a refused connection are failures retried on the
// schedule (±20 % jitter) with the same webhook-id, until exhausted.
func TestRetriesFollowTheSchedule(t *testing.T) {
	for _, mode := range []string{"500", "timeout", "refused"} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, nil)
			rcv := newReceiver(t, func(n int, h hit, w http.ResponseWriter) {
				if mode == "timeout" {
					time.Sleep(500 * time.Millisecond) // over the 300 ms timeout
				}
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = w.Write([]byte(strings.Repeat("x", 5000)))
			})
			url := rcv.URL
			if mode == "refused" {
				rcv.Close() // nothing listens there any more
			}
			sub, _ := e.subscribe(url, catalogue.MessageReceived)
			e.start()
			e.inbound("hi")
			waitFor(t, "exhausted", 10*time.Second, func() bool {
				ds := e.deliveries(sub.ID)
				return len(ds) == 1 && ds[0].Status == webhooks.StatusExhausted
			})
			d := e.deliveries(sub.ID)[0]
			require.Len(t, d.Attempts, 4, "1 attempt + 3 retries")
			for i := 1; i < 4; i++ {
				gap := d.Attempts[i].At.Sub(d.Attempts[i-1].At)
				step := e.opts.Schedule[i-1]
				if mode == "timeout" {
					gap -= time.Duration(d.Attempts[i-1].DurationMS * float64(time.Millisecond))
				}
				assert.GreaterOrEqual(t, gap, time.Duration(float64(step)*0.8)-5*time.Millisecond, "retry %d", i)
				assert.Less(t, gap, time.Duration(float64(step)*1.2)+400*time.Millisecond, "retry %d", i)
			}
			switch mode {
			case "500":
				assert.Equal(t, 500, *d.Attempts[0].StatusCode)
				assert.Len(t, d.Attempts[0].ResponseBody, webhooks.MaxResponseBody)
				ids := map[string]bool{}
				for _, h := range rcv.all() {
					ids[h.header.Get("webhook-id")] = true
				}
				assert.Equal(t, map[string]bool{d.ID: true}, ids)
			case "timeout":
				assert.Nil(t, d.Attempts[0].StatusCode)
				assert.Contains(t, d.Attempts[0].Error, "timeout")
			case "refused":
				assert.Nil(t, d.Attempts[0].StatusCode)
				assert.Contains(t, d.Attempts[0].Error, "refused")
			}
			assert.EqualValues(t, 3, e.outcomes(webhooks.OutcomeRetried))
			assert.EqualValues(t, 1, e.outcomes(webhooks.OutcomeFailed))
		})
	}
}

// A 429 or 503 with Retry-After waits at least that long before the retry.
func TestRetryAfterIsHonoured(t *testing.T) {
	e := newEnv(t, nil)
	rcv := newReceiver(t, func(n int, h hit, w http.ResponseWriter) {
		if n == 0 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	sub, _ := e.subscribe(rcv.URL, catalogue.MessageReceived)
	e.start()
	e.inbound("hi")
	waitFor(t, "success", 10*time.Second, func() bool {
		ds := e.deliveries(sub.ID)
		return len(ds) == 1 && ds[0].Status == webhooks.StatusSucceeded
	})
	hits := rcv.all()
	require.Len(t, hits, 2)
	assert.GreaterOrEqual(t, hits[1].at.Sub(hits[0].at), 950*time.Millisecond, "Retry-After: 1 over a 50 ms schedule step")
}

// An endpoint failing for longer than the window is disabled with a
// subscription.disabled event (seen by the instance's other subscriptions);
// re-enabling it resumes with what it missed.
func TestDisableAfterFailureWindowAndResume(t *testing.T) {
	e := newEnv(t, func(o *webhooks.Options) {
		o.DisableAfter = 300 * time.Millisecond
		o.Schedule = []time.Duration{100 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond, time.Hour}
	})
	var up atomicBool
	dead := newReceiver(t, func(n int, h hit, w http.ResponseWriter) {
		if up.get() {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusBadGateway)
	})
	monitor := newReceiver(t, nil)
	sub, _ := e.subscribe(dead.URL, catalogue.MessageReceived)
	e.subscribe(monitor.URL, catalogue.SubscriptionDisabled)
	e.start()
	e.inbound("one")
	waitFor(t, "disabled", 10*time.Second, func() bool {
		s, err := e.subs.Get(context.Background(), e.inst.ID, sub.ID)
		require.NoError(t, err)
		return !s.Enabled
	})
	s, _ := e.subs.Get(context.Background(), e.inst.ID, sub.ID)
	assert.Equal(t, "failing", s.DisabledReason)
	waitFor(t, "subscription.disabled", 5*time.Second, func() bool { return len(monitor.all()) == 1 })
	ev := monitor.all()[0].event
	assert.Equal(t, catalogue.SubscriptionDisabled, ev["event"])
	assert.Equal(t, sub.ID, ev["data"].(map[string]any)["subscription_id"])

	// While disabled nothing is sent; events are kept.
	before := len(dead.all())
	e.inbound("two")
	time.Sleep(400 * time.Millisecond)
	assert.Equal(t, before, len(dead.all()))

	up.set(true)
	enabled := true
	_, err := e.subs.Update(context.Background(), e.inst.ID, sub.ID, webhooks.Input{Enabled: &enabled})
	require.NoError(t, err)
	waitFor(t, "both delivered", 5*time.Second, func() bool {
		ds := e.deliveries(sub.ID)
		return len(ds) == 2 && ds[0].Status == webhooks.StatusSucceeded && ds[1].Status == webhooks.StatusSucceeded
	})
}

// Resend repeats one delivery (same webhook-id, same body); recover resends
// every failed delivery since a time.
func TestResendAndRecover(t *testing.T) {
	e := newEnv(t, func(o *webhooks.Options) { o.Schedule = []time.Duration{20 * time.Millisecond} })
	var up atomicBool
	rcv := newReceiver(t, func(n int, h hit, w http.ResponseWriter) {
		if up.get() {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
	})
	sub, _ := e.subscribe(rcv.URL, catalogue.MessageReceived)
	e.start()
	since := time.Now().Add(-time.Second)
	e.inbound("a")
	e.inbound("b")
	waitFor(t, "exhausted", 5*time.Second, func() bool {
		ds := e.deliveries(sub.ID)
		return len(ds) == 2 && ds[0].Status == webhooks.StatusExhausted && ds[1].Status == webhooks.StatusExhausted
	})
	up.set(true)
	ds := e.deliveries(sub.ID)
	first := ds[0]
	_, err := e.subs.Resend(context.Background(), e.inst.ID, sub.ID, first.ID)
	require.NoError(t, err)
	waitFor(t, "resent", 5*time.Second, func() bool {
		for _, d := range e.deliveries(sub.ID) {
			if d.ID == first.ID {
				return d.Status == webhooks.StatusSucceeded
			}
		}
		return false
	})
	hits := rcv.all()
	last := hits[len(hits)-1]
	assert.Equal(t, first.ID, last.header.Get("webhook-id"))
	same := hitsWithID(hits, first.ID)
	require.Greater(t, len(same), 1)
	for _, h := range same {
		assert.Equal(t, string(same[0].body), string(h.body), "same body on every attempt")
	}
	for _, d := range e.deliveries(sub.ID) {
		if d.ID == first.ID {
			assert.Equal(t, "manual", d.Attempts[len(d.Attempts)-1].Trigger)
		}
	}

	_, err = e.subs.Resend(context.Background(), e.inst.ID, sub.ID, "msg_nope")
	assert.ErrorIs(t, err, webhooks.ErrDeliveryNotFound)

	n, err := e.subs.Recover(context.Background(), e.inst.ID, sub.ID, since)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	waitFor(t, "recovered", 5*time.Second, func() bool {
		ds := e.deliveries(sub.ID)
		return ds[0].Status == webhooks.StatusSucceeded && ds[1].Status == webhooks.StatusSucceeded
	})
	n, err = e.subs.Recover(context.Background(), e.inst.ID, sub.ID, since)
	require.NoError(t, err)
	assert.Equal(t, 0, n)
}

func hitsWithID(hits []hit, id string) []hit {
	var out []hit
	for _, h := range hits {
		if h.header.Get("webhook-id") == id {
			out = append(out, h)
		}
	}
	return out
}

// After a rotation both secrets sign during the overlap; each verifies.
func TestRotationSignsWithBothSecrets(t *testing.T) {
	e := newEnv(t, nil)
	rcv := newReceiver(t, nil)
	sub, oldSecret := e.subscribe(rcv.URL, catalogue.MessageReceived)
	_, newSecret, err := e.subs.Rotate(context.Background(), e.inst.ID, sub.ID)
	require.NoError(t, err)
	require.NotEqual(t, oldSecret, newSecret)
	e.start()
	e.inbound("hi")
	waitFor(t, "delivery", 5*time.Second, func() bool { return len(rcv.all()) == 1 })
	h := rcv.all()[0]
	assert.Len(t, strings.Split(h.header.Get("webhook-signature"), " "), 2)
	for _, s := range []string{oldSecret, newSecret} {
		wh, err := standardwebhooks.NewWebhook(s)
		require.NoError(t, err)
		assert.NoError(t, wh.Verify(h.body, h.header))
	}
	got, err := e.subs.Get(context.Background(), e.inst.ID, sub.ID)
	require.NoError(t, err)
	require.NotNil(t, got.PreviousSecretUntil)
}

// Each subscription gets only the event types it asked for; all when none.
func TestEventTypeFilters(t *testing.T) {
	e := newEnv(t, nil)
	notes := newReceiver(t, nil)
	all := newReceiver(t, nil)
	e.subscribe(notes.URL, catalogue.NoteCreated, catalogue.ConversationStatusChanged)
	e.subscribe(all.URL)
	e.start()
	thread := e.inbound("hi")
	cc := commands.Context{Actor: domain.Actor{Kind: domain.ActorUser, ID: "agent-7"}}
	_, err := e.commands.AddNote(context.Background(), commands.AddNote{InstanceID: e.inst.ID, ThreadID: thread, Text: "vip", Context: cc})
	require.NoError(t, err)
	ops, err := e.commands.CreateOperators(context.Background(), commands.CreateOperators{Instance: e.inst, Items: []domain.NewOperator{{Name: "Agent 7"}}, Context: cc})
	require.NoError(t, err)
	status, assignee := domain.StatusResolved, strconv.FormatInt(ops.Operators[0].ID, 10)
	_, err = e.commands.UpdateThread(context.Background(), commands.UpdateThread{InstanceID: e.inst.ID, ThreadID: thread,
		Changes: domain.ThreadChanges{Status: &status, Assignee: &assignee}, Context: cc})
	require.NoError(t, err)
	waitFor(t, "all five", 5*time.Second, func() bool { return len(all.all()) == 5 })
	waitFor(t, "two", 5*time.Second, func() bool { return len(notes.all()) == 2 })
	time.Sleep(200 * time.Millisecond)
	names := func(hs []hit) map[string]bool {
		m := map[string]bool{}
		for _, h := range hs {
			m[h.event["event"].(string)] = true
		}
		return m
	}
	assert.Equal(t, map[string]bool{catalogue.NoteCreated: true, catalogue.ConversationStatusChanged: true}, names(notes.all()))
	assert.Equal(t, map[string]bool{catalogue.ConversationCreated: true, catalogue.MessageReceived: true, catalogue.NoteCreated: true,
		catalogue.ConversationStatusChanged: true, catalogue.ConversationAssigned: true}, names(all.all()))
}

// An endpoint down for a while receives every event once it is back, each once.
func TestEndpointDownThenBackGetsEverything(t *testing.T) {
	e := newEnv(t, func(o *webhooks.Options) {
		o.Schedule = []time.Duration{50 * time.Millisecond, 100 * time.Millisecond}
		for i := 0; i < 40; i++ {
			o.Schedule = append(o.Schedule, 200*time.Millisecond)
		}
	})
	var up atomicBool
	rcv := newReceiver(t, func(n int, h hit, w http.ResponseWriter) {
		if !up.get() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	other := newReceiver(t, nil)
	sub, _ := e.subscribe(rcv.URL, catalogue.MessageReceived)
	e.subscribe(other.URL, catalogue.MessageReceived)
	e.start()
	for i := 0; i < 20; i++ {
		e.inbound("m")
	}
	// The healthy endpoint is not held up by the failing one.
	waitFor(t, "other gets all", 3*time.Second, func() bool { return len(other.all()) == 20 })
	time.Sleep(300 * time.Millisecond)
	up.set(true)
	waitFor(t, "all succeeded", 10*time.Second, func() bool {
		ds := e.deliveries(sub.ID)
		for _, d := range ds {
			if d.Status != webhooks.StatusSucceeded {
				return false
			}
		}
		return len(ds) == 20
	})
	ids := map[string]int{}
	for _, h := range rcv.all() {
		ids[h.header.Get("webhook-id")]++
	}
	assert.Len(t, ids, 20, "one webhook-id per event")
}

// Subscriptions get only events committed after they were created.
func TestSubscriptionStartsAtTheHead(t *testing.T) {
	e := newEnv(t, nil)
	e.inbound("before")
	rcv := newReceiver(t, nil)
	e.subscribe(rcv.URL, catalogue.MessageReceived)
	e.start()
	e.inbound("after")
	waitFor(t, "one", 5*time.Second, func() bool { return len(rcv.all()) == 1 })
	time.Sleep(200 * time.Millisecond)
	require.Len(t, rcv.all(), 1)
	assert.Equal(t, "after", rcv.all()[0].event["data"].(map[string]any)["content"])
}

// Two dispatchers on one database never make two deliveries of one event.
func TestTwoDispatchersShareTheWork(t *testing.T) {
	e := newEnv(t, nil)
	rcv := newReceiver(t, nil)
	sub, _ := e.subscribe(rcv.URL, catalogue.MessageReceived)
	e.start()
	e.start()
	for i := 0; i < 30; i++ {
		e.inbound("m")
	}
	waitFor(t, "30", 5*time.Second, func() bool {
		ds := e.deliveries(sub.ID)
		n := 0
		for _, d := range ds {
			if d.Status == webhooks.StatusSucceeded {
				n++
			}
		}
		return n == 30
	})
	ids := map[string]int{}
	for _, h := range rcv.all() {
		ids[h.header.Get("webhook-id")]++
	}
	assert.Len(t, ids, 30)
}

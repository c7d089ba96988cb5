package webhooks_test

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/socialops/socialops/adapters/webhooks"
	"github.com/socialops/socialops/catalogue"
	"github.com/socialops/socialops/commands"
	"github.com/socialops/socialops/domain"
)

// BenchmarkDeliveries measures outbound webhook deliveries to local receivers:
// deliveries/s over all endpoints, and the p99 from a message's commit to the
// first attempt of its message.received at each endpoint. With one endpoint
// timing out on every request besides, the other endpoints' figures must hold.
func BenchmarkDeliveries(b *testing.B) {
	for _, c := range []struct {
		name      string
		endpoints int
		messages  int // the backlog; each becomes two events (conversation.created, message.received)
		slow      bool
	}{
		{"endpoints=1", 1, 2000, false},
		{"endpoints=50", 50, 100, false},
		{"endpoints=1/plus_one_timing_out", 1, 2000, true},
		{"endpoints=50/plus_one_timing_out", 50, 100, true},
	} {
		b.Run(c.name, func(b *testing.B) { benchDeliveries(b, c.endpoints, c.messages, c.slow) })
	}
}

func benchDeliveries(b *testing.B, endpoints, messages int, slow bool) {
	e := newEnv(b, func(o *webhooks.Options) {
		o.Timeout, o.MessageTimeout = time.Second, time.Second
		o.Schedule = []time.Duration{time.Hour} // a timed-out attempt is not retried within the run
		o.PollInterval = 200 * time.Millisecond
		o.LeaseSlack = time.Second
		o.OnAttempt = nil
	})
	var mu sync.Mutex
	firstAt := map[string]time.Time{} // endpoint/message id → first attempt
	got := 0
	for i := 0; i < endpoints; i++ {
		n := i
		rcv := newReceiver(b, func(_ int, h hit, w http.ResponseWriter) {
			w.WriteHeader(http.StatusOK)
			mu.Lock()
			defer mu.Unlock()
			got++
			if h.event["event"] == catalogue.MessageReceived {
				key := fmt.Sprint(n, "/", h.event["data"].(map[string]any)["message_id"])
				if _, seen := firstAt[key]; !seen {
					firstAt[key] = h.at
				}
			}
		})
		e.subscribe(rcv.URL)
	}
	if slow {
		stuck := newReceiver(b, func(_ int, _ hit, w http.ResponseWriter) {
			time.Sleep(1500 * time.Millisecond) // past the 1 s timeout, every time
			w.WriteHeader(http.StatusOK)
		})
		e.subscribe(stuck.URL)
	}
	ingest := func(n int, pace time.Duration, committed map[string]time.Time) {
		var cmu sync.Mutex
		var wg sync.WaitGroup
		work := make(chan int)
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range work {
					k := seq.Add(1)
					res, err := e.commands.IngestWebhook(context.Background(), commands.IngestWebhook{Instance: e.inst, RawPayload: []byte(`{}`),
						Message: domain.InboundMessage{Provider: domain.ProviderGenericWebhook, ProviderEventID: fmt.Sprint("bench-", k),
							ExternalThreadID: fmt.Sprint("bench-chat-", k), Subject: "Help", MessageType: domain.MessageText, Text: "hello",
							Sender: domain.Sender{ExternalID: "u", DisplayName: "Ann"}}})
					if err != nil {
						b.Error(err)
						return
					}
					if committed != nil {
						cmu.Lock()
						committed[res.MessageID] = time.Now()
						cmu.Unlock()
					}
				}
			}()
		}
		for m := 0; m < n; m++ {
			work <- m
			if pace > 0 {
				time.Sleep(pace)
			}
		}
		close(work)
		wg.Wait()
	}
	delivered := func() int {
		mu.Lock()
		defer mu.Unlock()
		return got
	}

	// Throughput: a backlog committed while no dispatcher runs, then drained.
	ingest(messages, 0, nil)
	want := endpoints * messages * 2
	b.ResetTimer()
	start := time.Now()
	e.start()
	waitFor(b, "the backlog delivered", 5*time.Minute, func() bool { return delivered() >= want })
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(want)/elapsed.Seconds(), "deliveries/s")

	// Latency: messages committed at a steady pace while the dispatcher runs
	// (about 500 deliveries/s over all endpoints, 50 messages/s at most);
	// from each commit to its first attempt at each endpoint.
	mu.Lock()
	clear(firstAt)
	mu.Unlock()
	committed := map[string]time.Time{}
	paced := 100
	pace := max(20*time.Millisecond, time.Duration(endpoints*2)*time.Second/500)
	ingest(paced, pace, committed)
	want += endpoints * paced * 2
	waitFor(b, "the paced messages delivered", 5*time.Minute, func() bool { return delivered() >= want })
	var latencies []time.Duration
	mu.Lock()
	for key, at := range firstAt {
		var ep int
		var msg string
		if _, err := fmt.Sscanf(key, "%d/%s", &ep, &msg); err == nil {
			if c, ok := committed[msg]; ok {
				latencies = append(latencies, at.Sub(c))
			}
		}
	}
	mu.Unlock()
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	if len(latencies) > 0 {
		b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds())/1000, "p50_commit_to_attempt_ms")
		b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds())/1000, "p99_commit_to_attempt_ms")
	}
	b.ReportMetric(0, "ns/op")
}

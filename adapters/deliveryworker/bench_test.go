package deliveryworker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/socialops/socialops/adapters/deliveryworker"
	"github.com/socialops/socialops/commands"
	"github.com/socialops/socialops/domain"
)

// BenchmarkDeliveryThroughput measures delivered replies per second: replies
// queued up front, then a worker with 8 and 32 concurrent drives delivers
// them to a local Bot API server answering ok. Each delivery is claim, charge,
// send started, sendMessage, delivered: four appends and one HTTP call.
func BenchmarkDeliveryThroughput(b *testing.B) {
	for _, concurrency := range []int{8, 32} {
		b.Run(fmt.Sprintf("workers=%d", concurrency), func(b *testing.B) {
			e := newEnv(b)
			e.credit(1_000_000_000)
			const chats = 20
			var threads []string
			for i := 0; i < chats; i++ {
				e.chat = fmt.Sprintf("-10077700%02d", i)
				e.channel(domain.ChannelActive)
				threads = append(threads, e.thread(domain.ProviderTelegram))
			}
			var actions []domain.ReplyQueued
			for i := 0; i < b.N; i++ {
				actions = append(actions, e.reply(threads[i%chats], fmt.Sprint("bench reply ", i)))
			}
			b.ResetTimer()
			start := time.Now()
			e.startWorker(e.manager("bench", commands.DeliveryOptions{}), deliveryworker.Options{Concurrency: concurrency})
			for _, a := range actions {
				e.settle(a.ActionID, 5*time.Minute)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "actions/s")
			if got := len(e.bot.sent()); got != b.N {
				b.Fatalf("%d sendMessage calls for %d replies", got, b.N)
			}
		})
	}
}

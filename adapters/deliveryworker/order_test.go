package deliveryworker_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialops/socialops/adapters/deliveryworker"
	"github.com/socialops/socialops/commands"
	"github.com/socialops/socialops/domain"
)

// The replies of one thread reach the chat in the order they were queued,
// whatever the worker's concurrency and however long each call takes, while
// other threads' replies go on in parallel.
func TestRepliesOfAThreadAreSentInOrder(t *testing.T) {
	e := newEnv(t)
	e.credit(10_000_000)
	e.channel(domain.ChannelActive)
	thread := e.thread(domain.ProviderTelegram)
	e.bot.setAnswer(func(int, sendCall) (int, string) {
		time.Sleep(time.Duration(rand.IntN(15)) * time.Millisecond)
		return 200, ""
	})
	var last domain.ReplyQueued
	const n = 24
	for i := range n {
		last = e.reply(thread, fmt.Sprintf("part %02d", i))
	}
	e.startWorker(e.manager("w1", commands.DeliveryOptions{}), deliveryworker.Options{Concurrency: 8})
	e.settle(last.ActionID, 30*time.Second)
	require.Eventually(t, func() bool { return len(e.bot.sent()) == n }, 10*time.Second, 20*time.Millisecond)
	for i, c := range e.bot.sent() {
		assert.Equal(t, fmt.Sprintf("part %02d", i), c.Text)
	}
}

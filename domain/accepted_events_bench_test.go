package domain

import (
	"fmt"
	"maps"
	"testing"
)

// BenchmarkForkLongThread is what a webhook to a chat that has accepted n
// messages costs in the thread cache: copy the cached provider events, then
// record the new message and its charge (two writes of one key). "clone"
// copies every event, as the cache did before the layers; "fork" is
// AcceptedEvents.fork, as Thread.Forked does. Compare ns/op at each n.
func BenchmarkForkLongThread(b *testing.B) {
	for _, n := range []int{100, 10_000, 100_000} {
		var cached AcceptedEvents
		for i := range n {
			cached.set(threadKey("", fmt.Sprint(i)), AcceptedEvent{MessageID: fmt.Sprintf("somsg_%d", i), Position: uint64(i)})
		}
		cached = cached.fork() // one shared layer, as after a merge
		key := threadKey("", "next")
		b.Run(fmt.Sprintf("messages=%d/clone", n), func(b *testing.B) {
			for b.Loop() {
				m := maps.Clone(cached.base)
				m[key] = AcceptedEvent{MessageID: "somsg_next", Position: 1}
				m[key] = AcceptedEvent{MessageID: "somsg_next", Position: 2}
			}
		})
		b.Run(fmt.Sprintf("messages=%d/fork", n), func(b *testing.B) {
			// Each webhook forks the state the previous one left, as the
			// cache does, so the merges are in the figure: cycles of
			// recentLimit+1 webhooks from the cached state, each ending in
			// one merge, keep the base at about n however long it runs.
			cycle := recentLimit(len(cached.base)) + 1
			keys := make([]string, cycle)
			for i := range keys {
				keys[i] = threadKey("", fmt.Sprint("next-", i))
			}
			c, i := cached, 0
			for b.Loop() {
				if i == cycle {
					c, i = cached, 0
				}
				c = c.fork()
				c.set(keys[i], AcceptedEvent{MessageID: "somsg_next", Position: 1})
				i++
			}
		})
	}
}

package commands

import "sync"

// inflight lets concurrent copies of one request (a provider redelivering the
// same event at once) share the first copy's work; the others are told they
// were duplicates. Across processes the event store's idempotent append is
// what guarantees a single message; this only makes the answer precise.
type inflight struct {
	mu    sync.Mutex
	calls map[string]*call
}

type call struct {
	done chan struct{}
	val  any
	err  error
}

func newInflight() *inflight { return &inflight{calls: map[string]*call{}} }

// do runs fn once per key at a time; followers get the leader's result and shared=true.
func (f *inflight) do(key string, fn func() (any, error)) (val any, err error, shared bool) {
	f.mu.Lock()
	if c, ok := f.calls[key]; ok {
		f.mu.Unlock()
		<-c.done
		return c.val, c.err, true
	}
	c := &call{done: make(chan struct{})}
	f.calls[key] = c
	f.mu.Unlock()

	c.val, c.err = fn()
	f.mu.Lock()
	delete(f.calls, key)
	f.mu.Unlock()
	close(c.done)
	return c.val, c.err, false
}

package commands

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/socialops/socialops/domain"
)

// threadCacheSize bounds the folded thread states kept in memory.
const threadCacheSize = 20_000

// threadCache keeps folded thread states between webhooks, so most webhooks
// decide without reading their thread (issue 21). An entry is only a guess:
// the append that follows expects the entry's version, so a stale entry (a
// change made by another command or process) costs one failed append and a
// fresh read, never a wrong decision. Entries are never mutated: a state
// taken from the cache is shared, and put stores a new one.
type threadCache struct {
	mu      sync.Mutex
	entries map[string]domain.Thread
	misses  missTrend
}

func newThreadCache() *threadCache {
	return &threadCache{entries: make(map[string]domain.Thread)}
}

func (c *threadCache) get(id string) (domain.Thread, bool) {
	c.mu.Lock()
	t, ok := c.entries[id]
	c.mu.Unlock()
	return t, ok
}

func (c *threadCache) put(t domain.Thread) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[t.ID]; !ok && len(c.entries) >= threadCacheSize {
		// Drop an arbitrary eighth: map order is random enough for a cache.
		n := threadCacheSize / 8
		for k := range c.entries {
			delete(c.entries, k)
			if n--; n == 0 {
				break
			}
		}
	}
	c.entries[t.ID] = t
}

func (c *threadCache) drop(id string) {
	c.mu.Lock()
	delete(c.entries, id)
	c.mu.Unlock()
}

// dropStream forgets the thread of a stream another command appended to.
func (c *threadCache) dropStream(stream string) {
	if id, ok := strings.CutPrefix(stream, domain.ThreadStream("")); ok {
		c.drop(id)
	}
}

// missTrend tells whether the threads missing from the cache have lately
// been mostly new ones, never stored: the sign of a count over the misses,
// one up for a thread found new, one down for one found stored, held within
// ±missTrendBound so that it turns within a few dozen misses. While it is
// positive, a webhook for a thread the cache does not hold decides on a new
// thread without reading the stream first (ingestAtomic): a thread that
// exists after all makes the append fail on its expected revision or come
// back as a repeat, and costs a read and a second decision, never a wrong one.
// It starts at zero (read first), so a process that starts beside a full
// log reads until the misses it sees are mostly new threads.
type missTrend struct{ n atomic.Int32 }

const missTrendBound = 32

func (m *missTrend) guessNew() bool { return m.n.Load() > 0 }

// saw counts a miss whose thread turned out new (or stored).
func (m *missTrend) saw(isNew bool) {
	for {
		old := m.n.Load()
		next := old - 1
		if isNew {
			next = old + 1
		}
		if next > missTrendBound || next < -missTrendBound || m.n.CompareAndSwap(old, next) {
			return
		}
	}
}

// evolved is t with events just appended at revisions after t.Version, the
// last of them at position pos, folded in; t itself is left as it was.
func evolved(t domain.Thread, events []domain.Event, pos uint64) domain.Thread {
	t = t.Forked()
	rev := t.Version
	for _, e := range events {
		rev++
		// Only the last event's position is kept by the fold (the charge's, for
		// a message), so every event gets it.
		t = domain.EvolveThread(t, domain.Envelope{Type: e.EventType(), Payload: e, Raw: domain.RecordedEvent{Revision: uint64(rev), Position: pos}})
	}
	return t
}

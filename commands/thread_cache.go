package commands

import (
	"strings"
	"sync"

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

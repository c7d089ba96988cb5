package postgres

import (
	"sync"
	"time"
)

// lookupTTL is how long a configuration row read for a request is reused.
// Every webhook looks up its instance and secret; instances never change
// owner, so a short reuse is safe, and a secret changed by another process
// takes effect within it. Credentials use a much shorter reuse
// (credentialTTL), so a revocation takes effect within a second.
const lookupTTL = 10 * time.Second

// ttlCache remembers found values for a while. Misses are not cached, so a
// row created elsewhere is seen at once.
type ttlCache[V any] struct {
	mu      sync.Mutex
	entries map[string]cached[V]
	now     func() time.Time
	ttl     time.Duration
}

type cached[V any] struct {
	value   V
	expires time.Time
}

func newTTLCache[V any]() *ttlCache[V] { return newTTLCacheFor[V](lookupTTL) }

func newTTLCacheFor[V any](ttl time.Duration) *ttlCache[V] {
	return &ttlCache[V]{entries: map[string]cached[V]{}, now: time.Now, ttl: ttl}
}

// clear forgets every entry (after a change made here, so this process sees
// it at once).
func (c *ttlCache[V]) clear() {
	c.mu.Lock()
	clear(c.entries)
	c.mu.Unlock()
}

func (c *ttlCache[V]) get(key string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || c.now().After(e.expires) {
		var zero V
		return zero, false
	}
	return e.value, true
}

func (c *ttlCache[V]) put(key string, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) > 10000 {
		now := c.now()
		for k, e := range c.entries {
			if now.After(e.expires) {
				delete(c.entries, k)
			}
		}
	}
	c.entries[key] = cached[V]{value: v, expires: c.now().Add(c.ttl)}
}

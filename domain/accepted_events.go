package domain

import (
	"encoding/json"
	"maps"
	"math"
)

// AcceptedEvents is the set of provider events a thread accepted, each with
// where it landed (keyed by threadKey). A chat's thread may hold hundreds of
// thousands; a state forked for the next webhook (Thread.Forked) must not
// copy them all each time (issue 21). So they sit in two layers: a base that
// forks share and nobody writes once it is built, and the recent additions,
// which each fork owns and copies. A fork whose recent layer has reached
// recentLimit merges both into a new base. With a limit of about √(2n) for
// a base of n, a webhook copies O(√n) entries on average (the recent layer,
// plus its share of the merges) where a whole copy was O(n).
//
// The zero value is empty and ready. In JSON (thread snapshots) it is one
// object, as the map it replaced was.
type AcceptedEvents struct {
	base   map[string]AcceptedEvent // shared: never written after it is built
	recent map[string]AcceptedEvent // this value's own
}

// recentLimit is how many additions a fork copies before it merges them
// into a new base of base entries: √(2·base), and at least 64.
func recentLimit(base int) int {
	return max(64, int(math.Sqrt(float64(2*base))))
}

// Get returns where the provider event with key landed.
func (a *AcceptedEvents) Get(key string) (AcceptedEvent, bool) {
	if v, ok := a.recent[key]; ok {
		return v, true
	}
	v, ok := a.base[key]
	return v, ok
}

// set records key; a must own its recent layer (a fold, or a fork).
func (a *AcceptedEvents) set(key string, v AcceptedEvent) {
	if a.recent == nil {
		a.recent = make(map[string]AcceptedEvent)
	}
	a.recent[key] = v
}

// Len is the number of provider events held.
func (a *AcceptedEvents) Len() int {
	n := len(a.base)
	for k := range a.recent {
		if _, ok := a.base[k]; !ok {
			n++
		}
	}
	return n
}

// fork returns a set with the same events whose writes leave a untouched.
func (a AcceptedEvents) fork() AcceptedEvents {
	if len(a.recent) < recentLimit(len(a.base)) {
		return AcceptedEvents{base: a.base, recent: maps.Clone(a.recent)}
	}
	return AcceptedEvents{base: a.merged()}
}

// merged returns both layers in one new map.
func (a AcceptedEvents) merged() map[string]AcceptedEvent {
	m := make(map[string]AcceptedEvent, len(a.base)+len(a.recent))
	maps.Copy(m, a.base)
	maps.Copy(m, a.recent)
	return m
}

// MarshalJSON implements json.Marshaler: one object of every event.
func (a AcceptedEvents) MarshalJSON() ([]byte, error) {
	if len(a.recent) == 0 {
		if a.base == nil {
			return []byte("{}"), nil
		}
		return json.Marshal(a.base)
	}
	return json.Marshal(a.merged())
}

// UnmarshalJSON implements json.Unmarshaler.
func (a *AcceptedEvents) UnmarshalJSON(b []byte) error {
	var m map[string]AcceptedEvent
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*a = AcceptedEvents{base: m}
	return nil
}

package postgres

// The store's memory of the log's tail. Every follower of the log (each
// projector, each process manager) reads the same latest events, each with a
// query of its own; at 1,000 webhooks/s that was 2,000 reads a second of
// events this process had just written (issue 21). The store keeps the
// events it wrote, and those it read, by position, and answers a $all read
// from memory when it holds the first event asked for.
//
// It can never make a reader skip an event: it holds only committed events,
// which never change, and answers only a run of consecutive positions that
// starts right after the reader's position. Where the run stops at a
// position it lacks while later ones are known (held, or announced by a
// notification), the rest is read from the database.

import (
	"sync"

	"github.com/socialops/socialops/domain"
)

// tailSize is how many events the tail holds (a power of two).
const tailSize = 2048

type tail struct {
	mu    sync.RWMutex
	slots []domain.RecordedEvent // the event at position p sits at p % tailSize
	max   uint64                 // the highest position held
	known uint64                 // the highest position known to be committed
}

func newTail() *tail { return &tail{slots: make([]domain.RecordedEvent, tailSize)} }

// put keeps committed events.
func (t *tail) put(events []domain.RecordedEvent) {
	if len(events) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, e := range events {
		t.slots[e.Position%tailSize] = e
		t.max = max(t.max, e.Position)
		t.known = max(t.known, e.Position)
	}
}

// committed records that the log holds position (a notification said so).
func (t *tail) committed(position uint64) {
	t.mu.Lock()
	t.known = max(t.known, position)
	t.mu.Unlock()
}

// read returns the held run of events after position after, at most count.
// complete is false when the database must be asked for more: the first
// event is not held, or the run stops short of count at a position the log
// is known to hold.
func (t *tail) read(after uint64, count uint64) (events []domain.RecordedEvent, complete bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	p := after + 1
	for uint64(len(events)) < count {
		e := t.slots[p%tailSize]
		if e.Position != p || p == 0 {
			break
		}
		events = append(events, e)
		p++
	}
	if len(events) == 0 {
		return nil, false
	}
	return events, uint64(len(events)) == count || p > t.known
}

package postgres

// The store's memory of the log's tail. Every follower of the log (each
// projector, each process manager) reads the same latest events, each with a
// query of its own; at 1,000 webhooks/s that was 2,000 reads a second of
// events this process had just written (issue 21). The store keeps the
// events it wrote, and those it read, by position, and a $all read takes
// from memory the run of them it holds right after its position.
//
// It can never make a reader skip an event: it holds only committed events,
// which never change, and gives only a run of consecutive positions that
// starts right after the reader's position. ReadAll reads the rest of the
// page from the database, so its answer is the database's. A subscription
// goes further: when the run reaches the newest event this process knows of,
// it hands the run over without asking the database, and asks on its next
// wake (an append here, a notification from another process) or poll.

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

// committed records that the log holds position (a notification said so)
// and says whether that is news: beyond every position known so far.
func (t *tail) committed(position uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	news := position > t.known
	t.known = max(t.known, position)
	return news
}

// read returns the held run of events after position after, at most count,
// and whether the log is known to hold the position where the run stops (a
// later event is held, or a notification announced one): then the database
// holds more than the run for sure.
func (t *tail) read(after uint64, count uint64) (events []domain.RecordedEvent, gap bool) {
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
	return events, p <= t.known
}

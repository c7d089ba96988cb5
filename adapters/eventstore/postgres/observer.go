package postgres

import "time"

// BatchStats describes one group-commit batch: the appends that went into one
// transaction, the events they proposed (idempotent repeats included), how
// long the two round trips and the commit took, and the error that failed the
// whole batch (nil when it committed; an append's own expectation failure is
// not a batch error).
type BatchStats struct {
	Appends  int
	Events   int
	Duration time.Duration
	Err      error
}

// Observer learns about every batch, for metrics. It is called on the store's
// single write loop, so it must return quickly and never block.
type Observer interface {
	BatchCommitted(BatchStats)
}

type observerBox struct{ o Observer }

// SetObserver installs o (nil removes it). The store itself knows nothing of
// any metrics library.
func (s *Store) SetObserver(o Observer) {
	if o == nil {
		s.observer.Store(nil)
		return
	}
	s.observer.Store(&observerBox{o})
}

func (s *Store) observeBatch(batch []*appendRequest, elapsed time.Duration, err error) {
	box := s.observer.Load()
	if box == nil {
		return
	}
	st := BatchStats{Appends: len(batch), Duration: elapsed, Err: err}
	for _, r := range batch {
		for _, p := range r.parts {
			st.Events += len(p.events)
		}
	}
	box.o.BatchCommitted(st)
}

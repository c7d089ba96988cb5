package deliveryworker

import (
	"context"
	"sync"

	"github.com/socialops/socialops/projections"
)

// threadQueue hands actions to the drivers so that a thread's actions run
// one after another, in the order they were pushed (its replies reach the
// chat in the order they were queued), while different threads' run in
// parallel: a thread waiting out a provider's backoff holds up no other.
// At most limit actions wait in it; push blocks beyond that.
type threadQueue struct {
	mu      sync.Mutex
	cond    *sync.Cond
	pending map[string][]projections.ActionRef // per thread, oldest first
	ready   []string                           // threads with pending actions and none running
	busy    map[string]bool                    // threads with an action running
	queued  int
	limit   int
	closed  bool
}

func newThreadQueue(limit int) *threadQueue {
	q := &threadQueue{pending: map[string][]projections.ActionRef{}, busy: map[string]bool{}, limit: limit}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// push adds ref behind its thread's earlier actions; false once ctx ended or
// the queue closed.
func (q *threadQueue) push(ctx context.Context, ref projections.ActionRef) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.queued >= q.limit && !q.closed && ctx.Err() == nil {
		q.cond.Wait()
	}
	if q.closed || ctx.Err() != nil {
		return false
	}
	if len(q.pending[ref.ThreadID]) == 0 && !q.busy[ref.ThreadID] {
		q.ready = append(q.ready, ref.ThreadID)
	}
	q.pending[ref.ThreadID] = append(q.pending[ref.ThreadID], ref)
	q.queued++
	q.cond.Broadcast()
	return true
}

// pop waits for the oldest action of a thread with none running and marks
// the thread busy; false once the queue is closed.
func (q *threadQueue) pop() (projections.ActionRef, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.ready) == 0 && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return projections.ActionRef{}, false
	}
	thread := q.ready[0]
	q.ready = q.ready[1:]
	refs := q.pending[thread]
	ref := refs[0]
	if len(refs) == 1 {
		delete(q.pending, thread)
	} else {
		q.pending[thread] = refs[1:]
	}
	q.busy[thread] = true
	q.queued--
	q.cond.Broadcast()
	return ref, true
}

// done ends the running action of thread; its next one becomes ready.
func (q *threadQueue) done(thread string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.busy, thread)
	if len(q.pending[thread]) > 0 {
		q.ready = append(q.ready, thread)
		q.cond.Broadcast()
	}
}

// close wakes every waiter: pushes and pops return false from then on.
func (q *threadQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.cond.Broadcast()
	q.mu.Unlock()
}

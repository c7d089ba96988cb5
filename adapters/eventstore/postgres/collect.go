package postgres

// How the writer seals a batch: the requests waiting when it starts, and,
// when appenders run side by side, the ones its previous batch just answered.

import "runtime"

// gatherYields is the most times the writer yields before it seals a batch
// (see gather).
const gatherYields = 3

// batchBuilder is a batch being collected, with its events' bytes.
type batchBuilder struct {
	batch []*appendRequest
	size  int
}

func (b *batchBuilder) full() bool {
	return len(b.batch) >= maxBatchAppends || b.size >= maxBatchBytes
}

// take adds the requests already waiting in requests until the batch is full.
func (b *batchBuilder) take(requests <-chan *appendRequest) {
	for !b.full() {
		select {
		case r := <-requests:
			b.batch = append(b.batch, r)
			b.size += r.size
		default:
			return
		}
	}
}

// gather yields the writer's thread (yield) up to gatherYields times,
// taking what arrived after each, and stops once a yield after the first
// brought nothing or the batch is full. It answers how many it took.
//
// Why: the appenders a batch answers are made runnable by the writer itself,
// on its own processor. Without a yield the writer seals the next batch before
// any of them can append again, so closed-loop appenders split into two
// cohorts that alternate, each batch holding half of them (measured, issue
// 21: 4.0 appends per batch with 8 appenders). A yield runs them first, and
// their next appends join the batch (6.8–7.6 per batch), which costs one
// commit's flush for nearly twice the appends. It is the idea of Postgres's
// commit_delay, with a yield in place of a sleep: a timer here would sleep a
// millisecond, where a yield that finds nobody to run costs a microsecond.
// The second yield is for appenders a busy processor had to steal.
func (b *batchBuilder) gather(requests <-chan *appendRequest, yield func()) (gathered int) {
	start := len(b.batch)
	for i := 0; i < gatherYields && !b.full(); i++ {
		yield()
		before := len(b.batch)
		b.take(requests)
		if len(b.batch) == before && i > 0 {
			break
		}
	}
	return len(b.batch) - start
}

// collect takes first and whatever else is already waiting in requests; with
// a yield, it then gathers, and says how many of the batch it gathered.
func collect(requests <-chan *appendRequest, first *appendRequest, yield func()) (batch []*appendRequest, gathered int) {
	b := batchBuilder{batch: []*appendRequest{first}, size: first.size}
	b.take(requests)
	if yield != nil {
		gathered = b.gather(requests, yield)
	}
	return b.batch, gathered
}

// gatherRetry is how many batches the writer seals without gathering after a
// gathering that brought nothing.
const gatherRetry = 8

// gatherRule says whether the writer gathers before sealing its next batch.
// It gathers after a batch of several appends (appenders run side by side),
// and not after a lone append (one appender, or a quiet moment: a lone
// appender never waits). A gathering that brought nothing says the answered
// appenders do not come straight back (a webhook's next request comes over
// the network, well after a yield): the next gatherRetry batches do not
// gather, so a yield cannot queue the writer behind busy goroutines in vain
// (a yielding goroutine waits for the others on its processor, up to the
// scheduler's 10 ms slice when they compute).
type gatherRule struct {
	last int // appends in the previous batch
	skip int // batches still to seal without gathering
}

// yield is what collect yields with for the next batch: nil for no gathering.
func (g *gatherRule) yield() func() {
	if g.last > 1 && g.skip == 0 {
		return runtime.Gosched
	}
	return nil
}

// sealed records a batch of n appends, gathered of which came from its
// gathering (if yield gave it one).
func (g *gatherRule) sealed(n, gathered int) {
	tried := g.yield() != nil
	g.last = n
	switch {
	case tried && gathered == 0:
		g.skip = gatherRetry
	case g.skip > 0:
		g.skip--
	}
}

package postgres

import "testing"

// requestsArriving returns a yield that, on its k-th call, sends arrivals[k]
// requests of size bytes each to requests, and counts its calls.
func requestsArriving(requests chan *appendRequest, size int, arrivals ...int) (yield func(), calls *int) {
	n := 0
	return func() {
		if n < len(arrivals) {
			for range arrivals[n] {
				requests <- &appendRequest{size: size}
			}
		}
		n++
	}, &n
}

func TestCollectTakesWhatIsWaitingWithoutYielding(t *testing.T) {
	requests := make(chan *appendRequest, 16)
	for range 3 {
		requests <- &appendRequest{size: 10}
	}
	batch, _ := collect(requests, &appendRequest{size: 10}, nil)
	if len(batch) != 4 || len(requests) != 0 {
		t.Fatalf("batch of %d, %d left waiting; want 4 and 0", len(batch), len(requests))
	}
}

func TestGatherTakesTheAppendersItsYieldsLetRun(t *testing.T) {
	cases := []struct {
		name      string
		arrivals  []int
		wantBatch int
		wantCalls int
	}{
		// The answered appenders come back on the first yield; the second
		// brings nothing and ends the gathering.
		{"back on the first yield", []int{4}, 5, 2},
		// A stolen appender comes back on the second.
		{"one stolen", []int{3, 1}, 5, 3},
		// The first yield may find nobody ready yet: the second still looks.
		{"nobody on the first", []int{0, 4}, 5, 3},
		{"nobody at all", nil, 1, 2},
		// Never more than gatherYields yields.
		{"keep coming", []int{1, 1, 1, 1, 1}, 1 + gatherYields, gatherYields},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			requests := make(chan *appendRequest, 16)
			yield, calls := requestsArriving(requests, 10, c.arrivals...)
			batch, gathered := collect(requests, &appendRequest{size: 10}, yield)
			if len(batch) != c.wantBatch || *calls != c.wantCalls || gathered != c.wantBatch-1 {
				t.Fatalf("batch of %d (%d gathered) after %d yields; want %d (%d) after %d",
					len(batch), gathered, *calls, c.wantBatch, c.wantBatch-1, c.wantCalls)
			}
		})
	}
}

func TestGatherStopsAtAFullBatch(t *testing.T) {
	t.Run("appends", func(t *testing.T) {
		requests := make(chan *appendRequest, maxBatchAppends+8)
		for range maxBatchAppends + 4 {
			requests <- &appendRequest{size: 1}
		}
		yield, calls := requestsArriving(requests, 1, 4)
		batch, _ := collect(requests, &appendRequest{size: 1}, yield)
		if len(batch) != maxBatchAppends || *calls != 0 {
			t.Fatalf("batch of %d after %d yields; want %d after none", len(batch), *calls, maxBatchAppends)
		}
	})
	t.Run("bytes", func(t *testing.T) {
		requests := make(chan *appendRequest, 16)
		yield, calls := requestsArriving(requests, maxBatchBytes/2, 4)
		batch, _ := collect(requests, &appendRequest{size: maxBatchBytes / 2}, yield)
		// The first yield brings four; the batch is full after one of them.
		if len(batch) != 2 || *calls != 1 || len(requests) != 3 {
			t.Fatalf("batch of %d after %d yields, %d left; want 2 after 1, 3 left", len(batch), *calls, len(requests))
		}
	})
}

func TestGatherRule(t *testing.T) {
	var g gatherRule
	gathers := func() bool { return g.yield() != nil }
	if gathers() {
		t.Fatal("the first batch gathers")
	}
	g.sealed(1, 0)
	if gathers() {
		t.Fatal("gathers after a lone append")
	}
	g.sealed(4, 0)
	if !gathers() {
		t.Fatal("does not gather after a batch of four")
	}
	// A gathering that brought some keeps gathering.
	g.sealed(8, 4)
	if !gathers() {
		t.Fatal("stopped gathering after a gathering that brought four")
	}
	// One that brought nothing stops it for gatherRetry batches.
	g.sealed(4, 0)
	for i := range gatherRetry {
		if gathers() {
			t.Fatalf("gathers %d batches after a gathering that brought nothing", i)
		}
		g.sealed(4, 0)
	}
	if !gathers() {
		t.Fatalf("does not gather again after %d batches", gatherRetry)
	}
}

package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// replayReporter shows how a long replay (projections rebuild, verify)
// advances: a progress bar when it writes to a terminal, else a plain line
// every interval and one at the end, each with events/s and an ETA.
type replayReporter struct {
	w        io.Writer
	label    string
	now      func() time.Time
	interval time.Duration

	mu       sync.Mutex
	bar      *progressbar.ProgressBar
	start    time.Time
	lastLine time.Time
	position uint64
	target   uint64
	events   int
	reported bool
}

func newReplayReporter(w io.Writer, label string) *replayReporter {
	r := &replayReporter{w: w, label: label, now: time.Now, interval: 5 * time.Second}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		r.bar = progressbar.NewOptions64(-1,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(label),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionShowDescriptionAtLineEnd(),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	r.start = r.now()
	r.lastLine = r.start
	return r
}

// report takes one replay step: the position reached, the one it runs to,
// and the events applied so far.
func (r *replayReporter) report(position, target uint64, events int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.position, r.target, r.events, r.reported = position, target, events, true
	if r.bar != nil {
		if r.bar.GetMax64() != int64(target) {
			r.bar.ChangeMax64(int64(target))
		}
		r.bar.Describe(fmt.Sprintf("%s: %d events, %.0f events/s", r.label, events, r.rate()))
		_ = r.bar.Set64(int64(position))
		return
	}
	if now := r.now(); now.Sub(r.lastLine) >= r.interval {
		r.lastLine = now
		fmt.Fprintln(r.w, r.line())
	}
}

// finish ends the bar, or prints the last plain line.
func (r *replayReporter) finish() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.reported {
		return
	}
	if r.bar != nil {
		_ = r.bar.Finish()
		return
	}
	fmt.Fprintln(r.w, r.line())
}

func (r *replayReporter) rate() float64 {
	return float64(r.events) / max(r.now().Sub(r.start).Seconds(), 1e-3)
}

func (r *replayReporter) line() string {
	pct := 100.0
	if r.target > 0 {
		pct = 100 * float64(r.position) / float64(r.target)
	}
	eta := "done"
	if r.position < r.target {
		eta = "unknown"
		if elapsed := r.now().Sub(r.start); r.position > 0 && elapsed > 0 {
			left := time.Duration(float64(elapsed) * float64(r.target-r.position) / float64(r.position))
			eta = left.Round(time.Second).String()
		}
	}
	return fmt.Sprintf("%s: %.1f%% (position %d of %d), %d events, %.0f events/s, ETA %s",
		r.label, pct, r.position, r.target, r.events, r.rate(), eta)
}

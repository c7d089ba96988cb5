package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Off a terminal, a replay prints a plain line per interval and one at the
// end, each with events/s and an ETA.
func TestReplayReporterPrintsPlainLinesOffATerminal(t *testing.T) {
	var out bytes.Buffer
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := newReplayReporter(&out, "rebuild inbox")
	r.now = func() time.Time { return clock }
	r.start, r.lastLine = clock, clock

	clock = clock.Add(2 * time.Second)
	r.report(2000, 10000, 2000)
	assert.Empty(t, out.String(), "nothing before the first interval")

	clock = clock.Add(4 * time.Second) // 6 s in: 4000 of 10000
	r.report(4000, 10000, 4000)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 1)
	assert.Equal(t, "rebuild inbox: 40.0% (position 4000 of 10000), 4000 events, 667 events/s, ETA 9s", lines[0])

	clock = clock.Add(9 * time.Second)
	r.report(10000, 10000, 10000)
	r.finish()
	lines = strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 3)
	assert.Equal(t, "rebuild inbox: 100.0% (position 10000 of 10000), 10000 events, 667 events/s, ETA done", lines[2])
}

// A replay with nothing to do prints nothing.
func TestReplayReporterSilentWithoutProgress(t *testing.T) {
	var out bytes.Buffer
	newReplayReporter(&out, "verify inbox").finish()
	assert.Empty(t, out.String())
}

package pgtest

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// PostgresCPU is the CPU used so far by every process on this machine named
// postgres (the local cluster's server, its backends and workers), with what
// its exited children used (a backend that closed is counted by the server
// that reaped it). ok is false when none is found: a remote database.
func PostgresCPU() (time.Duration, bool) {
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, false
	}
	const tick = 10 * time.Millisecond // USER_HZ, 100 on Linux
	var total time.Duration
	found := false
	for _, d := range dirs {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		raw, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ... : utime, stime, cutime and cstime are
		// fields 14 to 17, counted from the pid.
		open, end := strings.IndexByte(string(raw), '('), strings.LastIndexByte(string(raw), ')')
		if open < 0 || end < open || string(raw[open+1:end]) != "postgres" {
			continue
		}
		fields := strings.Fields(string(raw[end+1:]))
		if len(fields) < 15 {
			continue
		}
		for _, f := range fields[11:15] {
			if n, err := strconv.ParseInt(f, 10, 64); err == nil {
				total += time.Duration(n) * tick
			}
		}
		found = true
	}
	return total, found
}

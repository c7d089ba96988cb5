package pgtest

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// CPU is the CPU time (user and system) used so far by this process and by
// the machine's Postgres processes; HavePostgres is false for a remote
// database, whose CPU cannot be seen from here.
type CPU struct {
	Process, Postgres time.Duration
	HavePostgres      bool
}

// CPUNow reads both clocks.
func CPUNow() CPU {
	pg, ok := PostgresCPU()
	return CPU{Process: ProcessCPU(), Postgres: pg, HavePostgres: ok}
}

// Per returns the CPU used since c0 divided among n operations, in
// microseconds, for this process and for Postgres (pgOK false when either
// reading had no Postgres, or n is 0).
func (c0 CPU) Per(n int64) (process, postgres float64, pgOK bool) {
	if n <= 0 {
		return 0, 0, false
	}
	now := CPUNow()
	process = float64((now.Process - c0.Process).Microseconds()) / float64(n)
	if now.HavePostgres && c0.HavePostgres {
		return process, float64((now.Postgres - c0.Postgres).Microseconds()) / float64(n), true
	}
	return process, 0, false
}

// ProcessCPU is the CPU time (user and system) this process has used so far.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

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

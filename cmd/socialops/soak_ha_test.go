package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/socialops/socialops/adapters/election"
)

// TestSoakHA is `make soak-ha`: the soak's load (webhooks, duplicates, bad
// and poison input, notes and replies) spread over three `serve` processes
// on one database, two SIGKILLs of whichever process holds the most follower
// roles and a Postgres restart; it ends with the soak's checks and
// `soak-ha: … lost=0 doubled=0 failovers=N max_failover_s=…`.
func TestSoakHA(t *testing.T) {
	if os.Getenv("SOCIALOPS_SOAK_HA") != "1" {
		t.Skip("the three-process soak runs with make soak-ha (SOCIALOPS_SOAK_HA=1)")
	}
	runSoak(t, "soak-ha", 3)
}

// soakFailovers adds up the roles that moved after the SIGKILLs.
type soakFailovers struct {
	count int
	max   time.Duration
}

func (f *soakFailovers) summary() string {
	return fmt.Sprintf(" failovers=%d max_failover_s=%.2f", f.count, f.max.Seconds())
}

// killRoleHolder SIGKILLs the process that holds the most follower roles,
// waits (bounded) until each of its roles is held by another process, and
// starts a new process in its slot.
func (e *soakEnv) killRoleHolder(n int, f *soakFailovers, logChaos, chaosErr func(string, ...any)) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	leases, err := election.Leases(ctx, e.pool, followerRoles())
	if err != nil {
		chaosErr("SIGKILL %d: read the leases: %v", n, err)
		return
	}
	byPID := map[int][]string{}
	holderOf := map[int]string{}
	for _, l := range leases {
		if l.State() == "held" {
			byPID[l.PID] = append(byPID[l.PID], l.Role)
			holderOf[l.PID] = l.Holder
		}
	}
	e.mu.Lock()
	var victim *soakSlot
	var roles []string
	for _, slot := range e.slots {
		if slot.srv == nil {
			continue
		}
		if r := byPID[slot.srv.cmd.Process.Pid]; victim == nil || len(r) > len(roles) {
			victim, roles = slot, r
		}
	}
	if victim == nil {
		e.mu.Unlock()
		chaosErr("SIGKILL %d: no server is running", n)
		return
	}
	s := victim.srv
	holder := holderOf[s.cmd.Process.Pid]
	killed := time.Now()
	code := e.stopServer(s, syscall.SIGKILL)
	victim.srv = nil
	e.mu.Unlock()

	// Every role it held must run in another process within 10 s.
	moved := map[string]time.Duration{}
	for len(moved) < len(roles) && time.Since(killed) < 30*time.Second {
		now, err := election.Leases(ctx, e.pool, roles)
		if err == nil {
			for _, l := range now {
				if _, done := moved[l.Role]; !done && l.State() == "held" && l.Holder != holder {
					moved[l.Role] = time.Since(killed)
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	var worst time.Duration
	var stuck []string
	for _, r := range roles {
		d, ok := moved[r]
		if !ok {
			stuck = append(stuck, r)
			continue
		}
		f.count++
		worst = max(worst, d)
	}
	f.max = max(f.max, worst)
	if len(stuck) > 0 {
		sort.Strings(stuck)
		chaosErr("SIGKILL %d: roles %s still not held by another process 30 s after the kill", n, strings.Join(stuck, ", "))
	}

	e.mu.Lock()
	err = e.startServerLocked(victim)
	e.mu.Unlock()
	if err != nil {
		chaosErr("SIGKILL %d: restart slot %d: %v", n, victim.n, err)
	}
	if _, err := e.waitReady(60 * time.Second); err != nil {
		chaosErr("after SIGKILL %d: %v", n, err)
	}
	logChaos("SIGKILL %d of server slot %d (exit %d), which held %d role(s) [%s]: all held elsewhere %s later; slot restarted",
		n, victim.n, code, len(roles), strings.Join(roles, " "), worst.Round(time.Millisecond))
}

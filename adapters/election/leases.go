package election

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
)

// Querier is a pool, a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Lease is who holds a role, as any process sees it.
type Lease struct {
	Role        string    `json:"role"`
	Holder      string    `json:"holder,omitempty"`
	PID         int       `json:"pid,omitempty"`
	Host        string    `json:"host,omitempty"`
	AcquiredAt  time.Time `json:"acquired_at,omitzero"`
	HeartbeatAt time.Time `json:"heartbeat_at,omitzero"`
	// Locked: some session holds the role's advisory lock right now.
	Locked bool `json:"locked"`
	// Stale: a lease row whose holder no longer holds the lock (it died and
	// nobody took over yet) or stopped renewing it.
	Stale bool `json:"stale"`
}

// State is "held", "stale" or "free".
func (l Lease) State() string {
	switch {
	case l.Stale:
		return "stale"
	case l.Locked:
		return "held"
	default:
		return "free"
	}
}

// StaleAfter is how old a lease's heartbeat may be before Leases calls it
// stale (three lease refreshes at the default setting).
const StaleAfter = 15 * time.Second

// Leases reads follower_leases and the advisory locks of the current
// database: one Lease per role in roles (in that order), then any other role
// found in the table.
func Leases(ctx context.Context, q Querier, roles []string) ([]Lease, error) {
	rows, err := q.Query(ctx, `SELECT role, holder, pid, host, acquired_at, heartbeat_at, now() FROM follower_leases`)
	if err != nil {
		return nil, fmt.Errorf("read follower leases: %w", err)
	}
	type row struct {
		Lease
		now time.Time
	}
	found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		err := r.Scan(&x.Role, &x.Holder, &x.PID, &x.Host, &x.AcquiredAt, &x.HeartbeatAt, &x.now)
		return x, err
	})
	if err != nil {
		return nil, fmt.Errorf("read follower leases: %w", err)
	}
	rows, err = q.Query(ctx, `SELECT objid::bigint FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND classid::bigint = $1 AND objsubid = 2
		  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`, int64(Namespace))
	if err != nil {
		return nil, fmt.Errorf("read advisory locks: %w", err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("read advisory locks: %w", err)
	}
	locked := map[int64]bool{}
	for _, k := range keys {
		locked[k] = true
	}
	byRole := map[string]row{}
	for _, x := range found {
		byRole[x.Role] = x
	}
	var out []Lease
	add := func(name string) {
		l := Lease{Role: name, Locked: locked[int64(LockKey(name))]}
		if x, ok := byRole[name]; ok {
			l = x.Lease
			l.Locked = locked[int64(LockKey(name))]
			l.Stale = !l.Locked || x.now.Sub(x.HeartbeatAt) > StaleAfter
		}
		out = append(out, l)
	}
	seen := map[string]bool{}
	for _, name := range roles {
		seen[name] = true
		add(name)
	}
	var extra []string
	for name := range byRole {
		if !seen[name] {
			extra = append(extra, name)
		}
	}
	sort.Strings(extra)
	for _, name := range extra {
		add(name)
	}
	return out, nil
}

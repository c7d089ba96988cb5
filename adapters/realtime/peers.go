package realtime

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/socialops/socialops/domain"
)

// Peers is what the processes serving WebSockets share of their operators'
// connections, so that an operator with workbenches on two processes goes
// offline only when the last of them closes (or its process stops answering).
type Peers interface {
	// Report records this process's open connections of an operator (0 removes them).
	Report(ctx context.Context, process string, inst domain.Instance, operatorID int64, connections int) error
	// Elsewhere counts the operator's connections on other processes seen within fresh.
	Elsewhere(ctx context.Context, process, instanceID string, operatorID int64, fresh time.Duration) (int, error)
	// Heartbeat marks this process's rows as seen now.
	Heartbeat(ctx context.Context, process string) error
	// Expire deletes rows not seen within stale and returns the operators
	// they named that no process reports any more.
	Expire(ctx context.Context, stale time.Duration) ([]PeerOperator, error)
}

// PeerOperator is an operator whose last connections were on a process that
// stopped answering.
type PeerOperator struct {
	Instance   domain.Instance
	OperatorID int64
}

// PostgresPeers keeps Peers in the realtime_presence table.
type PostgresPeers struct{ Pool *pgxpool.Pool }

// Report implements Peers.
func (p PostgresPeers) Report(ctx context.Context, process string, inst domain.Instance, operatorID int64, n int) error {
	if n <= 0 {
		_, err := p.Pool.Exec(ctx, `DELETE FROM realtime_presence WHERE instance_id = $1 AND operator_id = $2 AND process_id = $3`,
			inst.ID, operatorID, process)
		return err
	}
	_, err := p.Pool.Exec(ctx, `
INSERT INTO realtime_presence (process_id, instance_id, instance_alias, owner_id, operator_id, connections)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (instance_id, operator_id, process_id) DO UPDATE SET connections = EXCLUDED.connections, seen_at = now()`,
		process, inst.ID, inst.Alias, inst.OwnerID, operatorID, n)
	return err
}

// Elsewhere implements Peers.
func (p PostgresPeers) Elsewhere(ctx context.Context, process, instanceID string, operatorID int64, fresh time.Duration) (int, error) {
	var n int
	err := p.Pool.QueryRow(ctx, `
SELECT coalesce(sum(connections), 0) FROM realtime_presence
WHERE instance_id = $1 AND operator_id = $2 AND process_id <> $3 AND seen_at > now() - make_interval(secs => $4)`,
		instanceID, operatorID, process, fresh.Seconds()).Scan(&n)
	return n, err
}

// Heartbeat implements Peers.
func (p PostgresPeers) Heartbeat(ctx context.Context, process string) error {
	_, err := p.Pool.Exec(ctx, `UPDATE realtime_presence SET seen_at = now() WHERE process_id = $1`, process)
	return err
}

// Expire implements Peers. Concurrent expiries each get a row once (DELETE …
// RETURNING), so one process reports each operator.
func (p PostgresPeers) Expire(ctx context.Context, stale time.Duration) ([]PeerOperator, error) {
	rows, err := p.Pool.Query(ctx, `
WITH gone AS (
    DELETE FROM realtime_presence WHERE seen_at <= now() - make_interval(secs => $1)
    RETURNING instance_id, instance_alias, owner_id, operator_id
)
SELECT DISTINCT g.instance_id, g.instance_alias, g.owner_id, g.operator_id FROM gone g
WHERE NOT EXISTS (SELECT 1 FROM realtime_presence r WHERE r.instance_id = g.instance_id AND r.operator_id = g.operator_id
                  AND r.seen_at > now() - make_interval(secs => $1))`, stale.Seconds())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []PeerOperator
	for rows.Next() {
		var o PeerOperator
		if err := rows.Scan(&o.Instance.ID, &o.Instance.Alias, &o.Instance.OwnerID, &o.OperatorID); err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

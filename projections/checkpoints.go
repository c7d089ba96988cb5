package projections

import "context"

// Checkpoints reads every row of projection_checkpoints: the projectors and
// every other follower of the log that keeps its position there (the
// delivery manager, and later ones), by name.
func Checkpoints(ctx context.Context, q Querier) (map[string]uint64, error) {
	rows, err := q.Query(ctx, `SELECT projector, position FROM projection_checkpoints`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]uint64{}
	for rows.Next() {
		var name string
		var pos int64
		if err := rows.Scan(&name, &pos); err != nil {
			return nil, err
		}
		out[name] = uint64(max(pos, 0))
	}
	return out, rows.Err()
}

// AdvanceCheckpointSQL moves a follower's checkpoint forward, never back
// ($1 the follower, $2 the position): what every process manager writes once
// it has handled a batch.
const AdvanceCheckpointSQL = `INSERT INTO projection_checkpoints (projector, position) VALUES ($1, $2)
	ON CONFLICT (projector) DO UPDATE SET position = GREATEST(projection_checkpoints.position, EXCLUDED.position), updated_at = now()`

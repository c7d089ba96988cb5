package projections

import (
	"context"
	"fmt"
	"time"
)

// OverviewRow is one group of the console's overview: conversations opened
// in it, how many got a first reply, and the average wait for it.
type OverviewRow struct {
	Key                     string  `json:"key"`
	ConversationsCreated    int     `json:"conversations_created"`
	FirstResponses          int     `json:"first_responses"`
	FirstResponseAvgSeconds float64 `json:"first_response_avg_seconds"`
}

// Overview groups an instance's threads opened in [from, to) by UTC day
// ("day") or provider ("channel"): the console's charts. It reads the inbox
// and message read models directly over a bounded range (the caller caps
// it); the first response is a thread's first outbound message at or after
// its first inbound one.
func Overview(ctx context.Context, q Querier, instanceID string, from, to time.Time, by string) ([]OverviewRow, error) {
	key := `to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')`
	if by == "channel" {
		key = "provider"
	}
	rows, err := q.Query(ctx, `WITH opened AS (
			SELECT t.thread_id, t.provider, t.created_at,
				(SELECT min(m.created_at) FROM thread_messages m WHERE m.thread_id = t.thread_id AND m.direction = 'inbound') AS first_in
			FROM inbox_threads t WHERE t.instance_id = $1 AND t.created_at >= $2 AND t.created_at < $3
		), answered AS (
			SELECT o.*, (SELECT min(m.created_at) FROM thread_messages m
				WHERE m.thread_id = o.thread_id AND m.direction = 'outbound' AND m.created_at >= o.first_in) AS first_out
			FROM opened o
		)
		SELECT `+key+`, count(*), count(first_out), coalesce(avg(extract(epoch FROM first_out - first_in)), 0)::float8
		FROM answered GROUP BY 1 ORDER BY 1`, instanceID, from, to)
	if err != nil {
		return nil, fmt.Errorf("overview: %w", err)
	}
	defer rows.Close()
	out := []OverviewRow{}
	for rows.Next() {
		var r OverviewRow
		if err := rows.Scan(&r.Key, &r.ConversationsCreated, &r.FirstResponses, &r.FirstResponseAvgSeconds); err != nil {
			return nil, fmt.Errorf("overview: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

package projections

// Metrics other systems pushed (POST …/api/v1/statistics/push), merged into
// a report's rows of the same type, period and dimensions.

import (
	"context"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5"
)

// pushedPeriodSQL is periodSQL over report_pushed's day.
var pushedPeriodSQL = map[string]string{
	"day":   `to_char(day, 'YYYY-MM-DD')`,
	"week":  `to_char(date_trunc('week', day)::date, 'YYYY-MM-DD')`,
	"month": `to_char(day, 'YYYY-MM')`,
}

// pushedSum adds pushed values: names starting avg_ are averaged, others summed.
type pushedSum struct {
	sum   float64
	count int
}

func addPushed(dst *map[string]*pushedSum, src map[string]*pushedSum) {
	if len(src) == 0 {
		return
	}
	if *dst == nil {
		*dst = map[string]*pushedSum{}
	}
	for k, v := range src {
		d, ok := (*dst)[k]
		if !ok {
			d = &pushedSum{}
			(*dst)[k] = d
		}
		d.sum += v.sum
		d.count += v.count
	}
}

// mergePushed adds to the series the metrics pushed for the same type,
// periods and dimensions (responder has none: pushes go under "").
func mergePushed(ctx context.Context, q Querier, rq ReportQuery, rep Report, series []ReportRow) ([]ReportRow, error) {
	rows, err := q.Query(ctx, `SELECT `+pushedPeriodSQL[rq.Granularity]+`, agent, channel, category, metrics FROM report_pushed
		WHERE instance_id = $1 AND type = $2 AND day BETWEEN $3::date AND $4::date ORDER BY day LIMIT $5`,
		rq.InstanceID, rq.Type, rep.StartDate, rep.EndDate, MaxReportRows+1)
	if err != nil {
		return nil, fmt.Errorf("report pushed metrics: %w", err)
	}
	type pushed struct {
		period                   string
		agent, channel, category string
		metrics                  map[string]float64
	}
	list, err := collect(rows, func(r pgx.CollectableRow) (pushed, error) {
		var p pushed
		err := r.Scan(&p.period, &p.agent, &p.channel, &p.category, &p.metrics)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("report pushed metrics: %w", err)
	}
	if len(list) > MaxReportRows {
		return nil, errTooLarge
	}
	if len(list) == 0 {
		return series, nil
	}
	index := map[string]int{}
	for i := range series {
		index[series[i].Period+"\x01"+series[i].key] = i
	}
	added := false
	for _, p := range list {
		dim := map[string]string{}
		for _, d := range rq.Dimensions {
			switch d {
			case "agent":
				dim[d] = p.agent
			case "channel":
				dim[d] = p.channel
			case "category":
				dim[d] = p.category
			default:
				dim[d] = ""
			}
		}
		dk := dimKey(rq.Dimensions, dim)
		key := p.period + "\x01" + dk
		i, ok := index[key]
		if !ok {
			series = append(series, ReportRow{Period: p.period, Dimension: dim, key: dk, sums: make([]int64, len(reportColumns))})
			i = len(series) - 1
			index[key] = i
			added = true
		}
		src := map[string]*pushedSum{}
		for k, v := range p.metrics {
			src[k] = &pushedSum{sum: v, count: 1}
		}
		addPushed(&series[i].pushed, src)
	}
	if added {
		sort.SliceStable(series, func(a, b int) bool {
			if series[a].Period != series[b].Period {
				return series[a].Period < series[b].Period
			}
			return series[a].key < series[b].key
		})
	}
	if len(series) > MaxReportRows {
		return nil, errTooLarge
	}
	return series, nil
}

package projections

// Where a report's rows come from: the cube for sealed periods, the
// full-key rollups for the period under way (migration 00031).

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// reportMarks are an instance's latest local hour, day and month with sums
// (report_live): every period before them is sealed into report_cube.
type reportMarks struct {
	hour, day, month time.Time
	ok               bool
}

func readReportMarks(ctx context.Context, q Querier, instanceID string) (reportMarks, error) {
	var m reportMarks
	err := q.QueryRow(ctx, `SELECT hour, day, month FROM report_live WHERE instance_id = $1`, instanceID).Scan(&m.hour, &m.day, &m.month)
	if errors.Is(err, pgx.ErrNoRows) {
		return m, nil
	}
	if err != nil {
		return m, fmt.Errorf("report: %w", err)
	}
	m.ok = true
	return m, nil
}

// reportSource is where a report's rows come from: parts of report_cube
// (sealed periods, rows of the report's own subset of dimensions) and of the
// full-key rollups (periods not sealed yet, or every dimension asked for),
// each a range [lo, hi) of buckets.
type reportSource struct {
	parts []reportPart
	args  []any
	mask  int
}

// reportPart is one range of one table.
type reportPart struct {
	from  string // the table and its condition
	grain string // what one bucket is: hour, day or month
	cube  bool   // rows of the report's own dimensions already (else summed per bucket and dimensions)
}

// dimensionBits are the mask bits of report_cube.
var dimensionBits = map[string]int{"agent": 8, "responder": 4, "channel": 2, "category": 1}

// reportSources splits a query's range into the parts its rows come from.
func reportSources(rq ReportQuery, live reportMarks) *reportSource {
	src := &reportSource{}
	for _, d := range rq.Dimensions {
		src.mask |= dimensionBits[d]
	}
	lo := time.Date(rq.Start.Year(), rq.Start.Month(), rq.Start.Day(), 0, 0, 0, 0, time.UTC)
	hi := time.Date(rq.End.Year(), rq.End.Month(), rq.End.Day()+1, 0, 0, 0, 0, time.UTC)
	switch {
	case rq.Granularity == "hour":
		// The cube keeps hours only without agent and responder.
		src.split("report_hourly", "hour", lo, hi, live.hour, live.ok && src.mask&(8|4) == 0)
	case rq.Granularity == "month" && live.ok:
		// Whole sealed months from the month cube, the days around them as
		// a daily report.
		first := time.Date(lo.Year(), lo.Month(), 1, 0, 0, 0, 0, time.UTC)
		if first.Before(lo) {
			first = first.AddDate(0, 1, 0)
		}
		end := time.Date(hi.Year(), hi.Month(), 1, 0, 0, 0, 0, time.UTC)
		if live.month.Before(end) {
			end = live.month
		}
		if first.Before(end) {
			src.add("report_cube", "month", first, end)
			src.days(lo, first, live)
			src.days(end, hi, live)
			return src
		}
		src.days(lo, hi, live)
	default:
		src.days(lo, hi, live)
	}
	return src
}

// days adds the days [lo, hi).
func (s *reportSource) days(lo, hi time.Time, live reportMarks) {
	s.split("report_daily", "day", lo, hi, live.day, live.ok && s.mask != 15)
}

// split adds [lo, hi) of a full-key table, its periods before mark from the
// cube when cube.
func (s *reportSource) split(table, grain string, lo, hi, mark time.Time, cube bool) {
	if !cube {
		s.add(table, "", lo, hi)
		return
	}
	s.add("report_cube", grain, lo, minTime(hi, mark))
	s.add(table, "", maxTime(lo, mark), hi)
}

// add adds the buckets [lo, hi) of a table (of the cube's grain when grain).
func (s *reportSource) add(table, grain string, lo, hi time.Time) {
	if !lo.Before(hi) {
		return
	}
	n := len(s.args) + 3
	typ := "timestamp"
	if table == "report_daily" {
		typ = "date"
	}
	cond := fmt.Sprintf("bucket >= $%d::%s AND bucket < $%d::%s", n, typ, n+1, typ)
	s.args = append(s.args, lo.Format(time.DateTime), hi.Format(time.DateTime))
	part := reportPart{grain: grain, cube: grain != ""}
	if part.cube {
		cond += fmt.Sprintf(" AND grain = '%s' AND mask = %d", grain, s.mask)
	} else if table == "report_hourly" {
		part.grain = "hour"
	} else {
		part.grain = "day"
	}
	part.from = table + " WHERE instance_id = $1 AND " + cond
	s.parts = append(s.parts, part)
}

// perPeriod tells whether every row of the parts is one period and
// combination of dimensions of a report by granularity: then the rows need
// no summing, only ordering.
func (s *reportSource) perPeriod(granularity string) bool {
	for _, p := range s.parts {
		if p.grain != granularity {
			return false
		}
	}
	return true
}

// sql is the union of the parts, each row one bucket and combination of
// the given dimensions, with the given sums.
func (s *reportSource) sql(dims, sums []string) string {
	key := "bucket::timestamp AS bucket"
	for _, d := range dims {
		key += ", " + d
	}
	plain, summed := key, key
	for _, c := range sums {
		plain += ", " + c
		summed += ", sum(" + c + ")::bigint AS " + c
	}
	if len(s.parts) == 0 {
		return `SELECT ` + plain + ` FROM report_daily WHERE false`
	}
	group := strings.Join(append([]string{"1"}, dims...), ", ")
	out := make([]string, len(s.parts))
	for i, p := range s.parts {
		if p.cube {
			out[i] = `SELECT ` + plain + ` FROM ` + p.from
		} else {
			out[i] = `SELECT ` + summed + ` FROM ` + p.from + ` GROUP BY ` + group
		}
	}
	return strings.Join(out, " UNION ALL ")
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/socialops/socialops/domain"
)

// reportColumns are the sums a rollup row holds, in table order.
var reportColumns = []string{"conversations_created", "conversations_reopened", "conversations_closed",
	"messages_in", "messages_out", "messages_bot", "notes",
	"first_responses", "first_response_ms", "first_response_business_ms", "replies", "reply_ms", "reply_business_ms",
	"resolution_ms", "resolution_business_ms", "bot_conversations", "bot_handoffs", "bot_resolved", "bot_handling_ms",
	"bot_ended", "bot_closed"}

// reportColumnIndex is each sum's place in reportColumns.
var reportColumnIndex = func() map[string]int {
	m := make(map[string]int, len(reportColumns))
	for i, c := range reportColumns {
		m[c] = i
	}
	return m
}()

// ReportSumColumns names the sums a report of type typ reads.
func ReportSumColumns(typ string) []string { return append([]string(nil), reportSumColumns[typ]...) }

// ReportDimensions are what a report may be broken down by.
var ReportDimensions = []string{"agent", "responder", "channel", "category"}

// Granularities of a report's series.
var ReportGranularities = []string{"hour", "day", "week", "month"}

// Limits of a report.
const (
	MaxReportDays     = 366
	MaxHourlyDays     = 31
	MaxReportRows     = 10000
	defaultReportType = domain.StatisticsConversation
)

// reportMetrics are the figures of each report type, in order.
var reportMetrics = map[string][]string{
	domain.StatisticsConversation: {"conversations_created", "conversations_reopened", "conversations_closed",
		"first_responses", "first_response_avg_seconds", "first_response_business_avg_seconds",
		"resolution_avg_seconds", "resolution_business_avg_seconds",
		"bot_conversations", "bot_handoffs", "bot_resolved", "bot_resolution_rate", "bot_handling_avg_seconds"},
	domain.StatisticsMessage: {"messages_in", "messages_out", "messages_bot", "notes",
		"replies", "reply_avg_seconds", "reply_business_avg_seconds"},
	domain.StatisticsAgent: {"conversations_closed", "messages_out", "first_responses", "first_response_avg_seconds",
		"first_response_business_avg_seconds", "replies", "reply_avg_seconds", "reply_business_avg_seconds",
		"resolution_avg_seconds", "resolution_business_avg_seconds"},
}

// ReportMetricNames lists a report type's figures.
func ReportMetricNames(typ string) []string { return reportMetrics[typ] }

// ReportQuery asks for a report: figures of one type over local days
// [Start, End] of the instance's time zone, per period and dimensions.
type ReportQuery struct {
	InstanceID  string
	Type        string
	Start, End  time.Time // dates (their clock is ignored)
	Dimensions  []string
	Granularity string
}

// ReportRow is one period (or the whole range) of one combination of dimensions.
type ReportRow struct {
	Period    string             `json:"period,omitempty"`
	Dimension map[string]string  `json:"dimension"`
	Metrics   Figures            `json:"metrics"`
	Pushed    map[string]float64 `json:"pushed,omitempty"`
	sums      []int64
	pushed    map[string]*pushedSum
	key       string // dimKey of Dimension
}

// Report is a report's answer.
type Report struct {
	Type        string      `json:"type"`
	StartDate   string      `json:"start_date"`
	EndDate     string      `json:"end_date"`
	TimeZone    string      `json:"time_zone"`
	Granularity string      `json:"granularity"`
	Dimensions  []string    `json:"dimensions"`
	Metrics     []string    `json:"metrics"`
	Series      []ReportRow `json:"series"`
	Totals      []ReportRow `json:"totals"`
	Total       ReportRow   `json:"total"`
}

// errTooLarge is a report of more rows than MaxReportRows.
var errTooLarge = domain.Errorf(domain.ErrReportTooLarge, "a report holds %d rows at most", MaxReportRows)

// ValidateReportQuery normalizes a query: its type, granularity and
// dimensions, with the range limits.
func ValidateReportQuery(q *ReportQuery) error {
	if q.Type == "" {
		q.Type = defaultReportType
	}
	if _, ok := reportMetrics[q.Type]; !ok {
		return domain.Errorf(domain.ErrInvalidField, "type must be one of %s", strings.Join(domain.StatisticsTypes, ", "))
	}
	if q.Granularity == "" {
		q.Granularity = "day"
	}
	if !contains(ReportGranularities, q.Granularity) {
		return domain.Errorf(domain.ErrInvalidField, "granularity must be one of %s", strings.Join(ReportGranularities, ", "))
	}
	if q.Type == domain.StatisticsAgent && len(q.Dimensions) == 0 {
		q.Dimensions = []string{"agent"}
	}
	seen := map[string]bool{}
	for _, d := range q.Dimensions {
		if !contains(ReportDimensions, d) {
			return domain.Errorf(domain.ErrInvalidField, "dimension %q is unknown: use %s", d, strings.Join(ReportDimensions, ", "))
		}
		if seen[d] {
			return domain.Errorf(domain.ErrInvalidField, "dimension %q is given twice", d)
		}
		seen[d] = true
	}
	if q.End.Before(q.Start) {
		return domain.Errorf(domain.ErrInvalidField, "end_date must be on or after start_date")
	}
	days := int(q.End.Sub(q.Start).Hours()/24) + 1
	if days > MaxReportDays {
		return domain.Errorf(domain.ErrInvalidField, "a report covers %d days at most", MaxReportDays)
	}
	if q.Granularity == "hour" && days > MaxHourlyDays {
		return domain.Errorf(domain.ErrInvalidField, "an hourly report covers %d days at most", MaxHourlyDays)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// ReportSettings is an instance's reporting time zone and business hours.
type ReportSettings struct {
	TimeZone      string                  `json:"time_zone"`
	BusinessHours []domain.BusinessWindow `json:"business_hours"`
}

// GetReportSettings reads an instance's settings (UTC and none when unset).
func GetReportSettings(ctx context.Context, q Querier, instanceID string) (ReportSettings, error) {
	s := ReportSettings{TimeZone: "UTC", BusinessHours: []domain.BusinessWindow{}}
	var hours []byte
	err := q.QueryRow(ctx, `SELECT time_zone, business_hours FROM report_settings WHERE instance_id = $1`, instanceID).Scan(&s.TimeZone, &hours)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("read report settings: %w", err)
	}
	if err := json.Unmarshal(hours, &s.BusinessHours); err != nil {
		return s, fmt.Errorf("read report settings: %w", err)
	}
	return s, nil
}

// periodSQL is the SQL of a row's period, per granularity.
var periodSQL = map[string]string{
	"hour":  `to_char(bucket, 'YYYY-MM-DD"T"HH24:00')`,
	"day":   `to_char(bucket, 'YYYY-MM-DD')`,
	"week":  `to_char(date_trunc('week', bucket)::date, 'YYYY-MM-DD')`,
	"month": `to_char(bucket, 'YYYY-MM')`,
}

// BuildReport answers a validated query from the rollups: a sum per period
// and combination of dimensions (one index range of the instance's days or
// hours), the figures derived from the sums, and what was pushed beside.
func BuildReport(ctx context.Context, q Querier, rq ReportQuery) (Report, error) {
	settings, err := GetReportSettings(ctx, q, rq.InstanceID)
	if err != nil {
		return Report{}, err
	}
	rep := Report{Type: rq.Type, StartDate: rq.Start.Format(time.DateOnly), EndDate: rq.End.Format(time.DateOnly),
		TimeZone: settings.TimeZone, Granularity: rq.Granularity, Dimensions: nonNilStrings(rq.Dimensions),
		Metrics: reportMetrics[rq.Type], Series: []ReportRow{}, Totals: []ReportRow{}}
	live, err := readReportMarks(ctx, q, rq.InstanceID)
	if err != nil {
		return Report{}, err
	}
	dims := strings.Join(rq.Dimensions, ", ")
	group := "1"
	if dims != "" {
		group += ", " + dims
		dims = ", " + dims
	}
	// Only the sums the type's figures need (the others stay 0).
	need := reportSumColumns[rq.Type]
	src := reportSources(rq, live)
	var query string
	if src.perPeriod(rq.Granularity) {
		// Each row is a period already (a bucket's text sorts as its time).
		query = `SELECT ` + periodSQL[rq.Granularity] + dims + `, ` + strings.Join(need, ", ") +
			` FROM (` + src.sql(rq.Dimensions, need) + `) x ORDER BY bucket` + dims + ` LIMIT $2`
	} else {
		sums := make([]string, len(need))
		for i, c := range need {
			sums[i] = "sum(" + c + ")::bigint"
		}
		query = `SELECT ` + periodSQL[rq.Granularity] + dims + `, ` + strings.Join(sums, ", ") +
			` FROM (` + src.sql(rq.Dimensions, need) + `) x GROUP BY ` + group + ` ORDER BY ` + group + ` LIMIT $2`
	}
	rows, err := q.Query(ctx, query, append([]any{rq.InstanceID, MaxReportRows + 1}, src.args...)...)
	if err != nil {
		return Report{}, fmt.Errorf("report: %w", err)
	}
	series, err := newReportScanner(rq.Dimensions, need).scan(rows)
	if err != nil {
		return Report{}, fmt.Errorf("report: %w", err)
	}
	if len(series) > MaxReportRows {
		return Report{}, errTooLarge
	}
	if rq.Granularity != "hour" {
		if series, err = mergePushed(ctx, q, rq, rep, series); err != nil {
			return Report{}, err
		}
	}
	totals := map[string]*ReportRow{}
	var order []string
	rep.Total = ReportRow{Dimension: map[string]string{}, sums: make([]int64, len(reportColumns))}
	figures := newFigureSlab(rq.Type, len(series))
	for i := range series {
		row := &series[i]
		t, ok := totals[row.key]
		if !ok {
			t = &ReportRow{Dimension: row.Dimension, sums: make([]int64, len(reportColumns))}
			totals[row.key] = t
			order = append(order, row.key)
		}
		for j, v := range row.sums {
			t.sums[j] += v
			rep.Total.sums[j] += v
		}
		addPushed(&t.pushed, row.pushed)
		addPushed(&rep.Total.pushed, row.pushed)
		row.finish(rq.Type, figures.next())
	}
	sort.Strings(order)
	for _, k := range order {
		t := totals[k]
		t.finish(rq.Type, nil)
		rep.Totals = append(rep.Totals, *t)
	}
	rep.Series = series
	rep.Total.finish(rq.Type, nil)
	return rep, nil
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// dimSeparator joins the values of a combination of dimensions into its key
// (Postgres text never holds it).
const dimSeparator = "\x00"

// dimKey is the key of a combination of dimension values.
func dimKey(dims []string, v map[string]string) string {
	parts := make([]string, len(dims))
	for i, d := range dims {
		parts[i] = v[d]
	}
	return strings.Join(parts, dimSeparator)
}

// RollupSums is every rollup sum of an instance, per local day and full
// dimension key: what the property test compares with a computation from
// the events.
func RollupSums(ctx context.Context, q Querier, instanceID string, hourly bool) (map[string][]int64, error) {
	table := "report_daily"
	bucket := `to_char(bucket, 'YYYY-MM-DD')`
	if hourly {
		table, bucket = "report_hourly", `to_char(bucket, 'YYYY-MM-DD"T"HH24')`
	}
	rows, err := q.Query(ctx, `SELECT `+bucket+` || '|' || agent || '|' || responder || '|' || channel || '|' || category, `+
		strings.Join(reportColumns, ", ")+` FROM `+table+` WHERE instance_id = $1`, instanceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]int64{}
	for rows.Next() {
		var key string
		vals := make([]int64, len(reportColumns))
		dst := []any{&key}
		for i := range vals {
			dst = append(dst, &vals[i])
		}
		if err := rows.Scan(dst...); err != nil {
			return nil, err
		}
		out[key] = vals
	}
	return out, rows.Err()
}

// RollupColumns names the values of RollupSums, in order.
func RollupColumns() []string { return append([]string(nil), reportColumns...) }

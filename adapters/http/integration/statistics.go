package integration

import (
	"encoding/csv"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/socialops/socialops/domain"
	"github.com/socialops/socialops/projections"
)

// Seed 002 §4.3 统计分析集成: GET /api/v1/statistics/report and POST
// /api/v1/statistics/push. README "Reports" defines every figure.

var errInvalidParameter = &domain.Error{Code: "invalid_parameter", Message: "a query parameter has an invalid value"}

// ReportReader is what serves a report: the read model, the instance of
// the request, read-your-writes and the error writer.
type ReportReader struct {
	Reads          projections.Querier
	Instance       func(*gin.Context) domain.Instance
	ReadYourWrites func(c *gin.Context, projectors ...string) bool
	WriteError     func(*gin.Context, error)
}

// Serve answers GET …?type=&start_date=&end_date=&dimensions=&granularity=
// with the report as JSON, or as CSV when the client accepts text/csv
// (or asks format=csv).
func (rr ReportReader) Serve(c *gin.Context) {
	q, err := reportQuery(c)
	if err != nil {
		rr.WriteError(c, err)
		return
	}
	q.InstanceID = rr.Instance(c).ID
	if !rr.ReadYourWrites(c, projections.ReportsProjector{}.Name()) {
		return
	}
	rep, err := projections.BuildReport(c.Request.Context(), rr.Reads, q)
	if err != nil {
		rr.WriteError(c, err)
		return
	}
	if wantsCSV(c) {
		writeReportCSV(c, rep)
		return
	}
	ok(c, http.StatusOK, rep)
}

func reportQuery(c *gin.Context) (projections.ReportQuery, error) {
	day := func(name string) (time.Time, error) {
		raw := c.Query(name)
		if raw == "" {
			return time.Time{}, domain.Errorf(errInvalidParameter, "%s is required: a date, YYYY-MM-DD", name)
		}
		v, err := time.Parse(time.DateOnly, raw)
		if err != nil {
			return time.Time{}, domain.Errorf(errInvalidParameter, "%s must be a date, YYYY-MM-DD", name)
		}
		return v, nil
	}
	start, err := day("start_date")
	if err != nil {
		return projections.ReportQuery{}, err
	}
	end, err := day("end_date")
	if err != nil {
		return projections.ReportQuery{}, err
	}
	q := projections.ReportQuery{Type: c.Query("type"), Start: start, End: end, Granularity: c.Query("granularity")}
	for _, d := range strings.Split(c.Query("dimensions"), ",") {
		if d = strings.TrimSpace(d); d != "" {
			q.Dimensions = append(q.Dimensions, d)
		}
	}
	if err := projections.ValidateReportQuery(&q); err != nil {
		var de *domain.Error
		if errors.As(err, &de) && de.Is(domain.ErrInvalidField) {
			return q, domain.Errorf(errInvalidParameter, "%s", de.Message)
		}
		return q, err
	}
	return q, nil
}

func wantsCSV(c *gin.Context) bool {
	if f := c.Query("format"); f != "" {
		return f == "csv"
	}
	return strings.Contains(c.GetHeader("Accept"), "text/csv")
}

// writeReportCSV writes the series as CSV: period, the dimensions, the
// figures, then pushed.<name> for each metric pushed beside them. A text
// cell that a spreadsheet would take for a formula is quoted with a
// leading apostrophe.
func writeReportCSV(c *gin.Context, rep projections.Report) {
	pushedNames := map[string]bool{}
	for _, r := range rep.Series {
		for k := range r.Pushed {
			pushedNames[k] = true
		}
	}
	pushed := make([]string, 0, len(pushedNames))
	for k := range pushedNames {
		pushed = append(pushed, k)
	}
	sort.Strings(pushed)
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("Content-Disposition", `attachment; filename="report-`+rep.Type+`-`+rep.StartDate+`-`+rep.EndDate+`.csv"`)
	c.Status(http.StatusOK)
	w := csv.NewWriter(c.Writer)
	header := append([]string{"period"}, rep.Dimensions...)
	header = append(header, rep.Metrics...)
	for _, p := range pushed {
		header = append(header, "pushed."+p)
	}
	_ = w.Write(header)
	for _, r := range rep.Series {
		row := []string{r.Period}
		for _, d := range rep.Dimensions {
			row = append(row, safeCell(r.Dimension[d]))
		}
		for _, m := range rep.Metrics {
			row = append(row, strconv.FormatFloat(r.Metrics.Get(m), 'f', -1, 64))
		}
		for _, p := range pushed {
			v, ok := r.Pushed[p]
			if ok {
				row = append(row, strconv.FormatFloat(v, 'f', -1, 64))
			} else {
				row = append(row, "")
			}
		}
		_ = w.Write(row)
	}
	w.Flush()
}

func safeCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// pushBody is seed 002's push: {"type", "metrics", "dimension"}, the day in dimension.date.
type pushBody struct {
	Type      string             `json:"type"`
	Metrics   map[string]float64 `json:"metrics"`
	Dimension map[string]string  `json:"dimension"`
}

// pushStatistics is POST /api/v1/statistics/push: the metrics are stored
// for their day and dimensions (the last push of the same type, day and
// dimensions replaces the one before) and appear in reports of that type.
func (d Deps) pushStatistics(c *gin.Context) {
	var b pushBody
	if err := d.Decode(c, maxBody, &b); err != nil {
		d.WriteError(c, err)
		return
	}
	if b.Type == "" {
		d.WriteError(c, domain.Errorf(domain.ErrMissingField, "type is required: one of %s", strings.Join(domain.StatisticsTypes, ", ")))
		return
	}
	dims := map[string]string{}
	for k, v := range b.Dimension {
		if k != "date" {
			dims[k] = v
		}
	}
	push := domain.StatisticsPushed{InstanceID: d.Instance(c).ID, Type: b.Type, Date: b.Dimension["date"], Dimension: dims, Metrics: b.Metrics}
	pos, err := d.Commands.PushStatistics(c.Request.Context(), push, d.Context(c))
	if err != nil {
		d.WriteError(c, err)
		return
	}
	d.Position(c, pos)
	ok(c, http.StatusOK, gin.H{"type": push.Type, "date": push.Date, "dimension": dims, "metrics": push.Metrics})
}

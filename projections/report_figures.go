package projections

// A report row's figures: the sums it is made of, and the figures derived
// from them as README "Reports" defines them.

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
)

// reportRatios are the figures derived from two sums: num / den (0 when
// den is 0), divided by 1,000 for averages of milliseconds in seconds. Every
// other figure is a sum itself.
var reportRatios = map[string]struct {
	num, den string
	div      float64
}{
	"first_response_avg_seconds":          {"first_response_ms", "first_responses", 1000},
	"first_response_business_avg_seconds": {"first_response_business_ms", "first_responses", 1000},
	"resolution_avg_seconds":              {"resolution_ms", "conversations_closed", 1000},
	"resolution_business_avg_seconds":     {"resolution_business_ms", "conversations_closed", 1000},
	"reply_avg_seconds":                   {"reply_ms", "replies", 1000},
	"reply_business_avg_seconds":          {"reply_business_ms", "replies", 1000},
	"bot_handling_avg_seconds":            {"bot_handling_ms", "bot_ended", 1000},
	"bot_resolution_rate":                 {"bot_resolved", "bot_closed", 1},
}

// reportFigure is a figure of a report type, with the places of its sums.
type reportFigure struct {
	name     string
	num, den int // den < 0: the figure is the sum num
	div      float64
}

var (
	// reportFigures are each report type's figures, in order.
	reportFigures = map[string][]reportFigure{}
	// reportSumColumns are the sums each type's figures are made of, in
	// reportColumns order.
	reportSumColumns = map[string][]string{}
)

func init() {
	for typ, metrics := range reportMetrics {
		used := map[string]bool{}
		for _, m := range metrics {
			f := reportFigure{name: m, num: reportColumnIndex[m], den: -1}
			if r, ok := reportRatios[m]; ok {
				f = reportFigure{name: m, num: reportColumnIndex[r.num], den: reportColumnIndex[r.den], div: r.div}
				used[r.num], used[r.den] = true, true
			} else {
				used[m] = true
			}
			reportFigures[typ] = append(reportFigures[typ], f)
		}
		for _, c := range reportColumns {
			if used[c] {
				reportSumColumns[typ] = append(reportSumColumns[typ], c)
			}
		}
	}
}

// Figures are a report row's figures, in the order of its type's metrics;
// they marshal as a JSON object. One slice per row, where a map of ten
// entries would be a table of its own for each of thousands of rows.
type Figures struct {
	names  []string
	values []float64
}

// Get is a figure's value (0 when the row has no such figure).
func (f Figures) Get(name string) float64 {
	for i, n := range f.names {
		if n == name {
			return f.values[i]
		}
	}
	return 0
}

// Map is the figures as a map.
func (f Figures) Map() map[string]float64 {
	m := make(map[string]float64, len(f.names))
	for i, n := range f.names {
		m[n] = f.values[i]
	}
	return m
}

// MarshalJSON writes {"name": value, …} in the figures' order.
func (f Figures) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 32*len(f.names)+2)
	b = append(b, '{')
	for i, n := range f.names {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, n)
		b = append(b, ':')
		if v := f.values[i]; v == 0 || math.Abs(v) >= 1e-6 && math.Abs(v) < 1e21 {
			b = strconv.AppendFloat(b, v, 'f', -1, 64) // as encoding/json writes it
		} else {
			j, err := json.Marshal(v)
			if err != nil {
				return nil, err
			}
			b = append(b, j...)
		}
	}
	return append(b, '}'), nil
}

// figureSlab hands out the figures of many rows from one allocation.
type figureSlab struct {
	values []float64
	n      int
}

func newFigureSlab(typ string, rows int) *figureSlab {
	n := len(reportFigures[typ])
	return &figureSlab{values: make([]float64, n*rows), n: n}
}

func (s *figureSlab) next() []float64 {
	out := s.values[:s.n:s.n]
	s.values = s.values[s.n:]
	return out
}

// finish derives a row's figures from its sums, into values (its type's
// number of figures, zeroed) or, when nil, a slice of its own.
func (r *ReportRow) finish(typ string, values []float64) {
	figures := reportFigures[typ]
	if values == nil {
		values = make([]float64, len(figures))
	}
	r.Metrics = Figures{names: reportMetrics[typ], values: values}
	for i, f := range figures {
		switch {
		case f.den < 0:
			r.Metrics.values[i] = float64(r.sums[f.num])
		case r.sums[f.den] != 0:
			r.Metrics.values[i] = round3(float64(r.sums[f.num]) / float64(r.sums[f.den]) / f.div)
		}
	}
	if len(r.pushed) > 0 {
		r.Pushed = map[string]float64{}
		for k, v := range r.pushed {
			if strings.HasPrefix(k, "avg_") && v.count > 0 {
				r.Pushed[k] = v.sum / float64(v.count)
			} else {
				r.Pushed[k] = v.sum
			}
		}
	}
}

func round3(f float64) float64 {
	return float64(int64(f*1000+0.5)) / 1000
}

package projections

// Turning a report query's rows into ReportRows. A month by agent and day is
// thousands of rows over a few hundred agents and a few dozen days, so the
// scan shares what repeats: one dimension map and one key per combination of
// dimension values, one string per period, and the sums of many rows in one
// allocation.

import (
	"fmt"

	"github.com/jackc/pgx/v5"
)

// reportRowsPerSlab is how many rows' sums one allocation holds.
const reportRowsPerSlab = 256

// reportScanner reads report rows: the period, the values of dims, then
// the sums named by need.
type reportScanner struct {
	dims    []string
	need    []int // each scanned sum's place in reportColumns
	periods map[string]string
	combos  map[string]reportCombo
	slab    []int64
	key     []byte
	dst     []any
}

// reportCombo is one combination of dimension values: its map (shared by
// every row that has it, so never written to) and its key (dimKey).
type reportCombo struct {
	dimension map[string]string
	key       string
}

func newReportScanner(dims, need []string) *reportScanner {
	// The period and dimension slots of dst stay nil (Scan skips them):
	// they are read from the raw bytes.
	s := &reportScanner{dims: dims, periods: map[string]string{}, combos: map[string]reportCombo{},
		dst: make([]any, 1+len(dims)+len(need))}
	for _, c := range need {
		s.need = append(s.need, reportColumnIndex[c])
	}
	return s
}

// sums is a zeroed slice for one row's sums, cut from the current slab.
func (s *reportScanner) sums() []int64 {
	n := len(reportColumns)
	if len(s.slab) < n {
		s.slab = make([]int64, n*reportRowsPerSlab)
	}
	out := s.slab[:n:n]
	s.slab = s.slab[n:]
	return out
}

// scan reads every row and closes rows.
func (s *reportScanner) scan(rows pgx.Rows) ([]ReportRow, error) {
	defer rows.Close()
	series := make([]ReportRow, 0, 256)
	for rows.Next() {
		raw := rows.RawValues()
		if len(raw) != len(s.dst) {
			return nil, fmt.Errorf("a report row has %d columns, not %d", len(raw), len(s.dst))
		}
		row := ReportRow{sums: s.sums()}
		row.Period = s.intern(raw[0])
		combo := s.combo(raw[1 : 1+len(s.dims)])
		row.Dimension, row.key = combo.dimension, combo.key
		for i, c := range s.need {
			s.dst[1+len(s.dims)+i] = &row.sums[c]
		}
		if err := rows.Scan(s.dst...); err != nil {
			return nil, err
		}
		series = append(series, row)
	}
	return series, rows.Err()
}

// intern returns b as a string, one string per distinct value.
func (s *reportScanner) intern(b []byte) string {
	if v, ok := s.periods[string(b)]; ok {
		return v
	}
	v := string(b)
	s.periods[v] = v
	return v
}

// combo returns the combination of the dimension values in raw (text; NULL
// reads as "").
func (s *reportScanner) combo(raw [][]byte) reportCombo {
	s.key = s.key[:0]
	for i, b := range raw {
		if i > 0 {
			s.key = append(s.key, dimSeparator...)
		}
		s.key = append(s.key, b...)
	}
	if c, ok := s.combos[string(s.key)]; ok {
		return c
	}
	c := reportCombo{dimension: make(map[string]string, len(s.dims)), key: string(s.key)}
	for i, d := range s.dims {
		c.dimension[d] = string(raw[i])
	}
	s.combos[c.key] = c
	return c
}

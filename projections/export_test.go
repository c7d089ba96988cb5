package projections

// RowSums are the rollup sums behind a report row's figures, in the order
// of RollupColumns.
func RowSums(r ReportRow) []int64 { return r.sums }

// ReportRowOf is a finished row of a report type with the given sums.
func ReportRowOf(typ string, sums []int64) ReportRow {
	r := ReportRow{sums: sums}
	r.finish(typ, nil)
	return r
}

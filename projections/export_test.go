package projections

// RowSums are the rollup sums behind a report row's figures, in the order
// of RollupColumns.
func RowSums(r ReportRow) []int64 { return r.sums }

package scratch_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/socialops/socialops/adapters/postgres/pgtest"
	"github.com/socialops/socialops/projections"
)

func pct(d []time.Duration) string {
	slices.Sort(d)
	return fmt.Sprintf("p50=%.2fms p99=%.2fms n=%d", float64(d[len(d)/2].Microseconds())/1000, float64(d[len(d)*99/100].Microseconds())/1000, len(d))
}

func timeList(t *testing.T, pool *pgxpool.Pool, ids []string, n int, f func(inst string) projections.ThreadFilter) string {
	rnd := rand.New(rand.NewPCG(1, 1))
	var d []time.Duration
	for range n {
		inst := ids[rnd.IntN(len(ids))]
		t0 := time.Now()
		if _, err := projections.ListThreads(context.Background(), pool, f(inst)); err != nil {
			t.Fatal(err)
		}
		d = append(d, time.Since(t0))
	}
	return pct(d)
}

func timeSQL(t *testing.T, pool *pgxpool.Pool, ids []string, n int, sql string, args ...any) string {
	rnd := rand.New(rand.NewPCG(1, 1))
	var d []time.Duration
	for range n {
		inst := ids[rnd.IntN(len(ids))]
		t0 := time.Now()
		rows, err := pool.Query(context.Background(), sql, append([]any{inst}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
		}
		if rows.Err() != nil {
			t.Fatal(rows.Err())
		}
		d = append(d, time.Since(t0))
	}
	return pct(d)
}

func explain(t *testing.T, pool *pgxpool.Pool, stmt string) {
	rows, err := pool.Query(context.Background(), stmt, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		t.Logf("%s\nERROR %v", stmt, err)
		return
	}
	var out []string
	for rows.Next() {
		vals, _ := rows.Values()
		for _, v := range vals {
			out = append(out, fmt.Sprint(v))
		}
	}
	rows.Close()
	t.Logf("\n%s\n%s", stmt, strings.Join(out, "\n"))
}

func TestExplain(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	instances := loadInbox(t, pool)
	var ids []string
	for _, i := range instances {
		ids = append(ids, i.ID)
	}
	zh := func(inst string) projections.ThreadFilter { return projections.ThreadFilter{InstanceID: inst, Q: "退款", Limit: 20, Page: 1} }
	en := func(inst string) projections.ThreadFilter { return projections.ThreadFilter{InstanceID: inst, Q: "refund", Limit: 20, Page: 1} }
	t.Logf("zh first (fresh pool): %s", timeList(t, pool, ids, 50, zh))
	t.Logf("en: %s", timeList(t, pool, ids, 200, en))
	t.Logf("zh after en: %s", timeList(t, pool, ids, 3, zh))
	conn, _ := pool.Acquire(ctx)
	defer conn.Release()
	sqlFile, _ := os.ReadFile("/tmp/explain.sql")
	for _, stmt := range strings.Split(string(sqlFile), ";\n") {
		stmt = strings.TrimSpace(stmt)
		if stmt == "" {
			continue
		}
		stmt = strings.ReplaceAll(stmt, "$INST", "'"+ids[42]+"'")
		rows, err := conn.Query(ctx, stmt, pgx.QueryExecModeSimpleProtocol)
		if err != nil {
			t.Logf("%s\nERROR %v", stmt, err)
			continue
		}
		var out []string
		for rows.Next() {
			vals, _ := rows.Values()
			for _, v := range vals {
				out = append(out, fmt.Sprint(v))
			}
		}
		rows.Close()
		t.Logf("\n%s\n%s", stmt, strings.Join(out, "\n"))
	}
}

package projections_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/socialops/socialops/adapters/postgres/pgtest"
	"github.com/socialops/socialops/projections"
)

// benchContacts is the size of the contacts BenchmarkContactSearch queries.
const benchContacts = 1_000_000

var contactNames = []string{"Ann Lee", "Bob Stone", "Carla Diaz", "李伟", "王芳", "张敏", "Dmitri Ivanov", "Eve Martin", "Fatima Khan", "佐藤 花子"}

// BenchmarkContactSearch measures projections.SearchContacts over a million
// contacts in 100 instances (10,000 each): by a name fragment, a phone
// number, an email, a tag, and with no query. It reports p50_ms and p99_ms
// (issue 16's target: p99 < 20 ms).
func BenchmarkContactSearch(b *testing.B) {
	ctx := context.Background()
	pool := pgtest.NewPool(b)
	start := time.Now()
	err := pgtest.WithoutIndexes(ctx, pool, "contact_profiles", "512MB", func() error {
		_, err := pgtest.CopyRows(ctx, pool, "contact_profiles",
			[]string{"contact_id", "instance_id", "display_name", "name", "phone", "email", "level", "tags", "updated_at"},
			func(emit func(row ...any) bool) error {
				rnd := rand.New(rand.NewPCG(7, 8))
				end := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
				for i := range benchContacts {
					name := contactNames[rnd.IntN(len(contactNames))] + " " + strconv.Itoa(i)
					tags := []string{}
					if rnd.IntN(4) == 0 {
						tags = append(tags, []string{"vip", "b2b", "returning", "churn-risk"}[rnd.IntN(4)])
					}
					if !emit(fmt.Sprintf("socus_%08d", i), fmt.Sprintf("inst-%03d", i%100), name, "",
						fmt.Sprintf("+86138%08d", i), fmt.Sprintf("user%d@example.com", i), "", tags,
						end.Add(-time.Duration(rnd.Int64N(int64(365*24*time.Hour))))) {
						return nil
					}
				}
				return nil
			})
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := pgtest.VacuumAnalyze(ctx, pool, "contact_profiles"); err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded %d contacts with COPY, indexes and vacuum in %s", benchContacts, time.Since(start).Round(time.Millisecond))
	cases := []struct {
		name  string
		query func(rnd *rand.Rand, inst int) string
	}{
		{"none", func(*rand.Rand, int) string { return "" }},
		{"name", func(rnd *rand.Rand, _ int) string {
			return []string{"ann lee 12", "李伟 33", "martin 7"}[rnd.IntN(3)]
		}},
		{"phone", func(rnd *rand.Rand, inst int) string {
			return fmt.Sprintf("+86138%08d", rnd.IntN(benchContacts/100)*100+inst)
		}},
		{"email", func(rnd *rand.Rand, inst int) string {
			return fmt.Sprintf("user%d@example.com", rnd.IntN(benchContacts/100)*100+inst)
		}},
		{"tag", func(rnd *rand.Rand, _ int) string { return []string{"vip", "b2b"}[rnd.IntN(2)] }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			rnd := rand.New(rand.NewPCG(9, uint64(len(c.name))))
			durations := make([]time.Duration, 0, b.N)
			rows := 0
			b.ResetTimer()
			for range b.N {
				inst := rnd.IntN(100)
				q := c.query(rnd, inst)
				t0 := time.Now()
				list, err := projections.SearchContacts(ctx, pool, fmt.Sprintf("inst-%03d", inst), q, 20)
				durations = append(durations, time.Since(t0))
				if err != nil {
					b.Fatal(err)
				}
				rows += len(list)
			}
			b.StopTimer()
			reportPercentiles(b, durations)
			b.ReportMetric(float64(rows)/float64(b.N), "rows/op")
		})
	}
}

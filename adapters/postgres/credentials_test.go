package postgres_test

import (
	"testing"

	"github.com/socialops/socialops/adapters/postgres"
)

func FuzzParseCIDRs(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "127.0.0.1", "::1", "2001:db8::/32", "300.1.1.1", "10.0.0.0/33", "", "fe80::1%eth0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := postgres.ParseCIDRs([]string{s})
		if err != nil {
			return
		}
		for _, p := range ps {
			if !p.IsValid() || p != p.Masked() {
				t.Fatalf("ParseCIDRs(%q) gave %v", s, p)
			}
		}
	})
}

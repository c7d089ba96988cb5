package pgtest

import (
	"testing"
	"time"
)

// Reports as pgbench 15 and pgbench 13 print them.
const (
	pgbench15Report = `pgbench (15.18 (Debian 15.18-0+deb12u1))
transaction type: /tmp/socialops-pgbench-1/insert.sql
scaling factor: 1
query mode: simple
number of clients: 8
number of threads: 4
maximum number of tries: 1
duration: 5 s
number of transactions actually processed: 45980
number of failed transactions: 0 (0.000%)
latency average = 0.869 ms
initial connection time = 15.392 ms
tps = 9196.249764 (without initial connection time)
`
	pgbench13Report = `transaction type: insert.sql
scaling factor: 1
query mode: simple
number of clients: 1
number of threads: 1
duration: 5 s
number of transactions actually processed: 15205
latency average = 0.329 ms
tps = 3040.882201 (including connections establishing)
tps = 3041.427515 (excluding connections establishing)
`
)

func TestParsePgbenchReadsRateAndCount(t *testing.T) {
	for _, c := range []struct {
		name string
		out  string
		tps  float64
		n    int64
	}{
		{"pgbench 15", pgbench15Report, 9196.249764, 45980},
		{"pgbench 13", pgbench13Report, 3041.427515, 15205},
	} {
		got, err := parsePgbench(c.out)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got.TPS != c.tps || got.Transactions != c.n {
			t.Errorf("%s: got tps %v, %d transactions; want %v, %d", c.name, got.TPS, got.Transactions, c.tps, c.n)
		}
	}
}

func TestParsePgbenchRefusesAnIncompleteReport(t *testing.T) {
	for name, out := range map[string]string{
		"empty":            "",
		"no tps":           "number of transactions actually processed: 10\n",
		"no count":         "tps = 10.5 (without initial connection time)\n",
		"connection error": "pgbench: error: connection to server failed\n",
	} {
		if got, err := parsePgbench(out); err == nil {
			t.Errorf("%s: got %+v, want an error", name, got)
		}
	}
}

func TestCPUPerTxIsClientAndServerOverTransactions(t *testing.T) {
	p := Pgbench{Transactions: 1000, ClientCPU: 40 * time.Millisecond, PostgresCPU: 160 * time.Millisecond, HavePostgresCPU: true}
	if us, ok := p.CPUPerTx(); !ok || us != 200 {
		t.Errorf("CPUPerTx = %v, %v; want 200 µs", us, ok)
	}
	p.HavePostgresCPU = false
	if _, ok := p.CPUPerTx(); ok {
		t.Error("CPUPerTx without the server's CPU must say so")
	}
	if _, ok := (Pgbench{HavePostgresCPU: true}).CPUPerTx(); ok {
		t.Error("CPUPerTx of no transactions must say so")
	}
}

package pgtest

// pgbench gives benchmarks a baseline from the same cluster: what plain
// Postgres achieves for one small INSERT per transaction at a given
// concurrency. A store benchmark divides its own rate by this one, so the
// figure it reports survives a change of machine or disk.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// pgbenchDatabase holds the baseline table. It lives beside the test
// databases and is kept between runs; each run empties the table first.
const pgbenchDatabase = "socialops_pgbench"

var (
	pgbenchMu    sync.Mutex
	pgbenchReady = map[string]bool{} // admin URLs whose baseline database exists
)

// PgbenchPath returns the pgbench that ships with the server binaries: the
// newest /usr/lib/postgresql/*/bin that also holds initdb (the one localpg.sh
// runs), else pgbench on PATH.
func PgbenchPath() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(dir string) float64 {
		v, err := strconv.ParseFloat(filepath.Base(filepath.Dir(dir)), 64)
		if err != nil {
			return -1
		}
		return v
	}
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, dir := range dirs {
		if isExecutable(filepath.Join(dir, "initdb")) && isExecutable(filepath.Join(dir, "pgbench")) {
			return filepath.Join(dir, "pgbench"), nil
		}
	}
	if p, err := exec.LookPath("pgbench"); err == nil {
		return p, nil
	}
	return "", errors.New("pgbench not found in /usr/lib/postgresql/*/bin or on PATH (it ships with Debian's postgresql package)")
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// SampleDocument returns a compact JSON object of size bytes, shaped like an
// inbound message. It holds only strings and numbers, so it can sit in a
// pgbench script (where ":name" would be read as a variable).
func SampleDocument(size int) []byte {
	head := `{"channel":"telegram","channel_id":"3f0d2a4e-8b1c-4c55-9a7e-1d2b3c4d5e6f",` +
		`"external_id":"1234567890","sender":{"id":"987654321","name":"Bench Sender"},` +
		`"received_at":"2025-01-01T00:00:00Z","attempt":1,"text":"`
	tail := `"}`
	pad := size - len(head) - len(tail)
	if pad < 0 {
		pad = 0
	}
	const words = "hello there, a question about my order and its delivery date "
	text := strings.Repeat(words, pad/len(words)+1)[:pad]
	return []byte(head + text + tail)
}

// Pgbench is the outcome of one baseline run.
type Pgbench struct {
	// TPS is the transactions per second pgbench reports without
	// connection time; Transactions how many it committed.
	TPS          float64
	Transactions int64
	// ClientCPU is the CPU of the pgbench process; PostgresCPU that of the
	// machine's Postgres processes over the run (HavePostgresCPU false for a
	// remote cluster).
	ClientCPU, PostgresCPU time.Duration
	HavePostgresCPU        bool
}

// CPUPerTx is the CPU, client and server together, of one baseline
// transaction in microseconds: what this machine spends on one durable
// insert. ok is false when the server's CPU is not visible.
func (p Pgbench) CPUPerTx() (us float64, ok bool) {
	if !p.HavePostgresCPU || p.Transactions <= 0 {
		return 0, false
	}
	return float64((p.ClientCPU + p.PostgresCPU).Microseconds()) / float64(p.Transactions), true
}

// ReportAgainst reports the baseline beside a benchmark's own figures:
// pgbench_tps and ratio_vs_pgbench (perSec ÷ tps); and, when the
// benchmark's CPU per operation is known (cpuPerOp above 0, in µs: this
// process and Postgres, see CPU.Per) and so is the baseline's,
// pgbench_cpu_us/tx and cpu_vs_pgbench, the first over the second. On a
// machine whose cores are full, a rate cannot pass the baseline's by more
// than the inverse of that CPU ratio. A baseline that did not run (TPS 0)
// reports nothing.
func (p Pgbench) ReportAgainst(b *testing.B, perSec, cpuPerOp float64) {
	if p.TPS <= 0 {
		return
	}
	b.ReportMetric(p.TPS, "pgbench_tps")
	b.ReportMetric(perSec/p.TPS, "ratio_vs_pgbench")
	if base, ok := p.CPUPerTx(); ok && base > 0 && cpuPerOp > 0 {
		b.ReportMetric(base, "pgbench_cpu_us/tx")
		b.ReportMetric(cpuPerOp/base, "cpu_vs_pgbench")
	}
}

// RunPgbench runs pgbench for duration with clients connections (and
// min(clients, 4) threads), each transaction one INSERT of a ~500-byte jsonb
// document into pgbench_baseline, on the cluster of adminURL (a URL of its
// maintenance database, as for SOCIALOPS_TEST_DATABASE_URL), and measures
// the CPU it and the local cluster used.
func RunPgbench(ctx context.Context, adminURL string, clients int, duration time.Duration) (Pgbench, error) {
	if clients < 1 {
		return Pgbench{}, fmt.Errorf("pgbench: clients must be at least 1, got %d", clients)
	}
	bin, err := PgbenchPath()
	if err != nil {
		return Pgbench{}, err
	}
	if err := preparePgbenchDatabase(ctx, adminURL); err != nil {
		return Pgbench{}, fmt.Errorf("pgbench: prepare baseline database: %w", err)
	}
	target, err := libpqTarget(adminURL, pgbenchDatabase)
	if err != nil {
		return Pgbench{}, err
	}

	dir, err := os.MkdirTemp("", "socialops-pgbench-")
	if err != nil {
		return Pgbench{}, err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "insert.sql")
	body := strings.ReplaceAll(string(SampleDocument(500)), "'", "''")
	if err := os.WriteFile(script, []byte("INSERT INTO pgbench_baseline (body) VALUES ('"+body+"'::jsonb);\n"), 0o644); err != nil {
		return Pgbench{}, err
	}

	seconds := int(math.Ceil(duration.Seconds()))
	if seconds < 1 {
		seconds = 1
	}
	cmd := exec.CommandContext(ctx, bin, "-n",
		"-c", strconv.Itoa(clients), "-j", strconv.Itoa(min(clients, 4)),
		"-T", strconv.Itoa(seconds), "-f", script, target)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	pg0, havePG := PostgresCPU()
	if err := cmd.Run(); err != nil {
		return Pgbench{}, fmt.Errorf("pgbench: %w\n%s%s", err, stdout.String(), stderr.String())
	}
	// pgbench's backends exit as it disconnects, and their CPU is counted
	// once the server has reaped them: give that a moment.
	time.Sleep(100 * time.Millisecond)
	pg1, havePG1 := PostgresCPU()
	res, err := parsePgbench(stdout.String())
	if err != nil {
		return Pgbench{}, err
	}
	res.ClientCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	if havePG && havePG1 {
		res.PostgresCPU, res.HavePostgresCPU = pg1-pg0, true
	}
	return res, nil
}

var (
	tpsWithout = regexp.MustCompile(`(?m)^tps = ([0-9.]+) \(without initial connection time\)`)
	// pgbench before 14 printed two lines; the second excludes connecting.
	tpsExcluding = regexp.MustCompile(`(?m)^tps = ([0-9.]+) \(excluding connections establishing\)`)
	processed    = regexp.MustCompile(`(?m)^number of transactions actually processed: ([0-9]+)`)
)

// parsePgbench reads the rate and the transaction count of pgbench's report.
func parsePgbench(out string) (Pgbench, error) {
	var res Pgbench
	found := false
	for _, re := range []*regexp.Regexp{tpsWithout, tpsExcluding} {
		if m := re.FindStringSubmatch(out); m != nil {
			tps, err := strconv.ParseFloat(m[1], 64)
			if err != nil {
				return Pgbench{}, fmt.Errorf("pgbench: tps %q: %w", m[1], err)
			}
			res.TPS, found = tps, true
			break
		}
	}
	if !found {
		return Pgbench{}, fmt.Errorf("pgbench: no tps line in its output:\n%s", out)
	}
	m := processed.FindStringSubmatch(out)
	if m == nil {
		return Pgbench{}, fmt.Errorf("pgbench: no transaction count in its output:\n%s", out)
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return Pgbench{}, fmt.Errorf("pgbench: transaction count %q: %w", m[1], err)
	}
	res.Transactions = n
	return res, nil
}

// preparePgbenchDatabase creates the baseline database and table once per
// cluster and empties the table, so each run starts from the same state.
func preparePgbenchDatabase(ctx context.Context, adminURL string) error {
	pgbenchMu.Lock()
	defer pgbenchMu.Unlock()
	if !pgbenchReady[adminURL] {
		conn, err := pgx.Connect(ctx, adminURL)
		if err != nil {
			return err
		}
		var exists bool
		err = conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", pgbenchDatabase).Scan(&exists)
		if err == nil && !exists {
			_, err = conn.Exec(ctx, "CREATE DATABASE "+pgbenchDatabase)
			var pgErr *pgconn.PgError
			// Another process may have created it meanwhile.
			if errors.As(err, &pgErr) && (pgErr.Code == "42P04" || pgErr.Code == "23505") {
				err = nil
			}
		}
		conn.Close(ctx)
		if err != nil {
			return err
		}
	}
	cfg, err := pgx.ParseConfig(adminURL)
	if err != nil {
		return err
	}
	cfg.Database = pgbenchDatabase
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS pgbench_baseline (id bigserial PRIMARY KEY, body jsonb NOT NULL)`); err != nil {
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "23505" { // a concurrent CREATE won
			return err
		}
	}
	if _, err := conn.Exec(ctx, `TRUNCATE pgbench_baseline RESTART IDENTITY`); err != nil {
		return err
	}
	pgbenchReady[adminURL] = true
	return nil
}

// pgxOnlyParams are URL parameters pgx understands and libpq rejects.
var pgxOnlyParams = map[string]bool{
	"statement_cache_capacity":   true,
	"description_cache_capacity": true,
	"default_query_exec_mode":    true,
	"min_read_buffer_size":       true,
}

// libpqTarget turns adminURL into the connection string pgbench gets: the
// same host, port, user, password and TLS settings, on database db.
func libpqTarget(adminURL, db string) (string, error) {
	if !strings.HasPrefix(adminURL, "postgres://") && !strings.HasPrefix(adminURL, "postgresql://") {
		// keyword=value form: libpq keeps the last value of a repeated keyword.
		return adminURL + " dbname=" + db, nil
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		return "", fmt.Errorf("pgbench: parse database url: %w", err)
	}
	u.Path = "/" + db
	q := u.Query()
	for k := range q {
		if strings.HasPrefix(k, "pool_") || pgxOnlyParams[k] {
			q.Del(k)
		}
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

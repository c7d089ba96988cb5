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

// RunPgbench runs pgbench for duration with clients connections (and
// min(clients, 4) threads), each transaction one INSERT of a ~500-byte jsonb
// document into pgbench_baseline, on the cluster of adminURL (a URL of its
// maintenance database, as for SOCIALOPS_TEST_DATABASE_URL). It returns the
// transactions per second pgbench reports without connection time.
func RunPgbench(ctx context.Context, adminURL string, clients int, duration time.Duration) (float64, error) {
	if clients < 1 {
		return 0, fmt.Errorf("pgbench: clients must be at least 1, got %d", clients)
	}
	bin, err := PgbenchPath()
	if err != nil {
		return 0, err
	}
	if err := preparePgbenchDatabase(ctx, adminURL); err != nil {
		return 0, fmt.Errorf("pgbench: prepare baseline database: %w", err)
	}
	target, err := libpqTarget(adminURL, pgbenchDatabase)
	if err != nil {
		return 0, err
	}

	dir, err := os.MkdirTemp("", "socialops-pgbench-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "insert.sql")
	body := strings.ReplaceAll(string(SampleDocument(500)), "'", "''")
	if err := os.WriteFile(script, []byte("INSERT INTO pgbench_baseline (body) VALUES ('"+body+"'::jsonb);\n"), 0o644); err != nil {
		return 0, err
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
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("pgbench: %w\n%s%s", err, stdout.String(), stderr.String())
	}
	return parsePgbenchTPS(stdout.String())
}

var (
	tpsWithout = regexp.MustCompile(`(?m)^tps = ([0-9.]+) \(without initial connection time\)`)
	// pgbench before 14 printed two lines; the second excludes connecting.
	tpsExcluding = regexp.MustCompile(`(?m)^tps = ([0-9.]+) \(excluding connections establishing\)`)
)

func parsePgbenchTPS(out string) (float64, error) {
	for _, re := range []*regexp.Regexp{tpsWithout, tpsExcluding} {
		if m := re.FindStringSubmatch(out); m != nil {
			return strconv.ParseFloat(m[1], 64)
		}
	}
	return 0, fmt.Errorf("pgbench: no tps line in its output:\n%s", out)
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

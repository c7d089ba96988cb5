// Package pgtest gives each test its own freshly migrated Postgres database,
// cloned from a migrated template, so test packages run in parallel against
// one cluster. The cluster comes from SOCIALOPS_TEST_DATABASE_URL (an admin
// URL that may create databases); when it is unset, the project-local cluster
// of adapters/postgres/localpg.sh is started and used.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/socialops/socialops/adapters/postgres"
	"github.com/socialops/socialops/migrations"
)

var (
	adminOnce sync.Once
	adminURL  string
	adminErr  error
)

// AdminURL returns the URL of the test cluster's maintenance database.
func AdminURL(t testing.TB) string {
	t.Helper()
	adminOnce.Do(func() {
		if u := os.Getenv("SOCIALOPS_TEST_DATABASE_URL"); u != "" {
			adminURL = u
			return
		}
		_, file, _, _ := runtime.Caller(0)
		script := filepath.Join(filepath.Dir(file), "..", "localpg.sh")
		if out, err := exec.Command(script, "up").CombinedOutput(); err != nil {
			adminErr = fmt.Errorf("SOCIALOPS_TEST_DATABASE_URL is unset and the local cluster did not start (%v): %s", err, out)
			return
		}
		out, err := exec.Command(script, "url", "postgres").Output()
		if err != nil {
			adminErr = fmt.Errorf("local cluster url: %w", err)
			return
		}
		adminURL = strings.TrimSpace(string(out))
	})
	if adminErr != nil {
		t.Fatal(adminErr)
	}
	return adminURL
}

func withDatabase(raw, db string) string {
	u, err := url.Parse(raw)
	if err != nil {
		panic(err)
	}
	u.Path = "/" + db
	return u.String()
}

func migrationsHash() string {
	h := sha256.New()
	_ = fs.WalkDir(migrations.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := migrations.FS.ReadFile(path)
		h.Write([]byte(path))
		h.Write(b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
}

var (
	templateOnce sync.Once
	templateName string
	templateErr  error
)

// template makes (once per cluster and migration set) a migrated template database.
func template(t testing.TB) string {
	t.Helper()
	admin := AdminURL(t)
	templateOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		name := "socialops_tmpl_" + migrationsHash()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			templateErr = fmt.Errorf("connect to test cluster: %w", err)
			return
		}
		defer conn.Close(ctx)
		// Several test packages start at once: one builds the template, the others wait.
		if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(727274)"); err != nil {
			templateErr = err
			return
		}
		defer conn.Exec(context.Background(), "SELECT pg_advisory_unlock(727274)") //nolint:errcheck
		var exists bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1 AND datistemplate)", name).Scan(&exists); err != nil {
			templateErr = err
			return
		}
		if !exists {
			if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
				templateErr = err
				return
			}
			if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
				templateErr = err
				return
			}
			pool, err := postgres.Connect(ctx, withDatabase(admin, name))
			if err != nil {
				templateErr = err
				return
			}
			err = postgres.Migrate(ctx, pool, nil)
			pool.Close()
			if err != nil {
				templateErr = err
				return
			}
			if _, err := conn.Exec(ctx, "ALTER DATABASE "+name+" WITH IS_TEMPLATE true"); err != nil {
				templateErr = err
				return
			}
		}
		templateName = name
	})
	if templateErr != nil {
		t.Fatal(templateErr)
	}
	return templateName
}

// NewDatabase creates a fresh migrated database for this test, dropped when
// the test ends, and returns its URL.
func NewDatabase(t testing.TB) string {
	t.Helper()
	tmpl := template(t)
	admin := AdminURL(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "socialops_t_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connect to test cluster: %v", err)
	}
	defer conn.Close(ctx)
	for attempt := 0; ; attempt++ {
		_, err = conn.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE "+tmpl)
		if err == nil {
			break
		}
		// Another package may be cloning the same template this instant.
		if attempt < 50 && strings.Contains(err.Error(), "being accessed by other users") {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Logf("drop test database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("drop test database %s: %v", name, err)
		}
	})
	return withDatabase(admin, name)
}

// NewPool returns a pool on a fresh migrated database, closed when the test ends.
func NewPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := postgres.Connect(context.Background(), NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

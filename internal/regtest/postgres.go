package regtest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// PostgresCluster is a private PostgreSQL server for tests: a cluster made with initdb in a
// temporary directory, listening on a free loopback port, trusting local connections, stopped and
// removed when the test that started it ends. PostgreSQL refuses to run as root, so when the tests
// run as root (as CI does) the server runs as the postgres user that Debian's package creates.
type PostgresCluster struct {
	Port int
	dir  string
	bin  string
	cred *syscall.Credential
	n    int
}

// postgresDir finds the server binaries (initdb, pg_ctl): Debian keeps them off PATH, under
// /usr/lib/postgresql/<major>/bin.
func postgresDir() string {
	if matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl"); len(matches) > 0 {
		return filepath.Dir(matches[len(matches)-1])
	}
	// Elsewhere the binaries are on PATH, perhaps as links into their directory.
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Dir(real)
		}
	}
	return ""
}

// ErrNoPostgres means PostgreSQL's server, or the user to run it as, is missing.
var ErrNoPostgres = errors.New("PostgreSQL's server is not installed (apt-get install postgresql)")

// StartPostgres starts a private cluster for the test (or for a whole package, from TestMain through
// a testing.TB of its own). It skips when PostgreSQL is missing, and fails under CI.
func StartPostgres(t testing.TB) *PostgresCluster {
	t.Helper()
	c, err := LaunchPostgres()
	if errors.Is(err, ErrNoPostgres) {
		missing(t, "%v", err)
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return c
}

// LaunchPostgres starts a private cluster outside a test (a benchmark's main); the caller stops it
// with Stop. settings are more server settings ("shared_buffers=1GB").
func LaunchPostgres(settings ...string) (c *PostgresCluster, err error) {
	c = &PostgresCluster{bin: postgresDir()}
	if c.bin == "" {
		return nil, ErrNoPostgres
	}
	if c.dir, err = os.MkdirTemp("", "ingot-pg-"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(c.dir)
		}
	}()
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("%w: running as root needs the postgres user to run the server: %w", ErrNoPostgres, err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)} //nolint:gosec // G115: ids from /etc/passwd fit in 32 bits
		if err := os.Chown(c.dir, uid, gid); err != nil {
			return nil, err
		}
	}
	data := filepath.Join(c.dir, "data")
	if out, err := c.run("initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C"); err != nil {
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	if c.Port, err = freePort(); err != nil {
		return nil, err
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200", c.Port, c.dir)
	for _, s := range settings {
		opts += " -c " + s
	}
	if out, err := c.run("pg_ctl", "-D", data, "-o", opts, "-l", filepath.Join(c.dir, "log"), "-w", "-t", "60", "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "log"))
		return nil, fmt.Errorf("pg_ctl start: %w\n%s\n%s", err, out, log)
	}
	return c, nil
}

// Stop stops the cluster and removes its files.
func (c *PostgresCluster) Stop() {
	_, _ = c.run("pg_ctl", "-D", filepath.Join(c.dir, "data"), "-m", "immediate", "-w", "stop")
	_ = os.RemoveAll(c.dir)
}

// DSN is the connection string of database db (the cluster's "postgres" database when empty).
func (c *PostgresCluster) DSN(db string) string {
	if db == "" {
		db = "postgres"
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, db)
}

// NewDatabase creates an empty database and returns its connection string, so each test gets a
// clean catalog from one cluster.
func (c *PostgresCluster) NewDatabase(t testing.TB) string {
	t.Helper()
	dsn, err := c.CreateDatabase()
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}

// CreateDatabase creates an empty database and returns its connection string.
func (c *PostgresCluster) CreateDatabase() (string, error) {
	c.n++
	name := fmt.Sprintf("t%d_%d", c.n, time.Now().UnixNano()%1_000_000_000)
	if out, err := c.run("psql", "-h", "127.0.0.1", "-p", strconv.Itoa(c.Port), "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-q", "-c", "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("creating database %s: %w\n%s", name, err, out)
	}
	return c.DSN(name), nil
}

// Psql runs one SQL statement against db and returns its unaligned output: a second opinion, from
// PostgreSQL's own client, on what a test's code wrote.
func (c *PostgresCluster) Psql(t testing.TB, dsn, sql string) string {
	t.Helper()
	out, err := c.run("psql", dsn, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql)
	if err != nil {
		t.Fatalf("psql %q: %v\n%s", sql, err, out)
	}
	return strings.TrimSpace(string(out))
}

func (c *PostgresCluster) run(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(c.bin, name), args...) //nolint:gosec // G204: PostgreSQL's own tools, with the test's arguments
	cmd.Dir = c.dir
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }() // only held to learn a free port
	return l.Addr().(*net.TCPAddr).Port, nil
}

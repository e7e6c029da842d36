// Package testenv gives tests a real PostgreSQL and a real Valkey (or Redis 7).
//
// Where the servers come from, in order:
//
//  1. SOVEREIGN_TEST_DATABASE_URL and SOVEREIGN_TEST_VALKEY_URL, when set;
//  2. the servers that `make test` started, found through the state file it
//     writes (.sovereign/test/services.env at the workspace root);
//  3. private servers that this package starts itself for the test binary
//     (PostgreSQL with initdb from the system's binaries, redis-server or
//     valkey-server), stopped again when the binary ends.
//
// It never skips: when none of these works the test fails with a message that
// says how to get a server.
//
// An S3-compatible store (MinIO) is optional and never started here: S3URL
// gives SOVEREIGN_TEST_S3_URL or the one in the state file, or "".
//
// Each call to Database gives the test its own freshly created database, so
// tests run with t.Parallel() without seeing each other's rows. Each call to
// Valkey gives a key prefix unique to the test.
package testenv

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sovereign-backend/sovereign/internal/pgproc"
	"github.com/sovereign-backend/sovereign/internal/valkeyproc"
)

// Environment variables that point tests at servers.
const (
	EnvDatabaseURL = "SOVEREIGN_TEST_DATABASE_URL"
	EnvValkeyURL   = "SOVEREIGN_TEST_VALKEY_URL"
	// EnvS3URL points tests at an S3-compatible store (MinIO under `make
	// test`), in the form of blob.ParseS3URL:
	// s3://ACCESS:SECRET@HOST:PORT/BUCKET?region=us-east-1&secure=false.
	// Unlike the other two it is optional; see S3URL.
	EnvS3URL = "SOVEREIGN_TEST_S3_URL"
)

// StateFile is where `make test` records the servers it started, relative to
// the workspace root (the directory holding go.work).
const StateFile = ".sovereign/test/services.env"

const howTo = "run the tests with `make test` (it installs and starts PostgreSQL and Valkey), " +
	"or set " + EnvDatabaseURL + "=postgres://USER:PASS@HOST:PORT/postgres and " +
	EnvValkeyURL + "=redis://HOST:PORT"

var (
	mainCalled bool

	mu        sync.Mutex
	pgSettled bool
	pgErr     error
	dbURL     string
	admin     *pgxpool.Pool
	kvSettled bool
	kvErr     error
	kvURL     string
	private   []func(context.Context) error
)

// Main runs the package's tests and then stops any private servers that were
// started for them. Call it from TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
func Main(m *testing.M) {
	mainCalled = true
	code := m.Run()
	mu.Lock()
	if admin != nil {
		admin.Close()
	}
	stops := private
	mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	for i := len(stops) - 1; i >= 0; i-- {
		if err := stops[i](ctx); err != nil {
			fmt.Fprintf(os.Stderr, "testenv: stopping private server: %v\n", err)
			code = max(code, 1)
		}
	}
	cancel()
	os.Exit(code)
}

// settlePostgres decides, once per test binary, which PostgreSQL the tests
// use, and opens the admin pool on it.
func settlePostgres() error {
	mu.Lock()
	defer mu.Unlock()
	if pgSettled {
		return pgErr
	}
	pgSettled = true
	dbURL = cmpOr(os.Getenv(EnvDatabaseURL), readStateFile()[EnvDatabaseURL])
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if dbURL == "" {
		if !mainCalled {
			pgErr = fmt.Errorf("testenv: no test PostgreSQL configured and testenv.Main is not called from TestMain, so a private one cannot be started and stopped; %s", howTo)
			return pgErr
		}
		dir, err := os.MkdirTemp("", "sovereign-testpg-")
		if err == nil {
			// MkdirTemp makes the directory 0700; PostgreSQL runs as its own
			// user when the tests run as root and must be able to enter it.
			err = os.Chmod(dir, 0o755)
		}
		if err != nil {
			pgErr = fmt.Errorf("testenv: %w", err)
			return pgErr
		}
		c, err := pgproc.Start(ctx, pgproc.Config{Dir: filepath.Join(dir, "pg")})
		if err != nil {
			_ = os.RemoveAll(dir)
			pgErr = fmt.Errorf("testenv: start a private PostgreSQL: %w; %s", err, howTo)
			return pgErr
		}
		private = append(private, func(ctx context.Context) error {
			err := c.Stop(ctx)
			_ = os.RemoveAll(dir)
			return err
		})
		dbURL = c.URL("postgres")
	}
	pool, err := pgxpool.New(ctx, dbURL)
	if err == nil {
		err = pool.Ping(ctx)
	}
	if err != nil {
		pgErr = fmt.Errorf("testenv: PostgreSQL at %s is not reachable: %w; %s", redact(dbURL), err, howTo)
		return pgErr
	}
	admin = pool
	return nil
}

// settleValkey decides, once per test binary, which Valkey the tests use.
func settleValkey() error {
	mu.Lock()
	defer mu.Unlock()
	if kvSettled {
		return kvErr
	}
	kvSettled = true
	kvURL = cmpOr(os.Getenv(EnvValkeyURL), readStateFile()[EnvValkeyURL])
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if kvURL == "" {
		if !mainCalled {
			kvErr = fmt.Errorf("testenv: no test Valkey configured and testenv.Main is not called from TestMain, so a private one cannot be started and stopped; %s", howTo)
			return kvErr
		}
		dir, err := os.MkdirTemp("", "sovereign-testkv-")
		if err != nil {
			kvErr = fmt.Errorf("testenv: %w", err)
			return kvErr
		}
		s, err := valkeyproc.Start(ctx, valkeyproc.Config{Dir: dir})
		if err != nil {
			_ = os.RemoveAll(dir)
			kvErr = fmt.Errorf("testenv: start a private Valkey: %w; %s", err, howTo)
			return kvErr
		}
		private = append(private, func(ctx context.Context) error {
			err := s.Stop(ctx)
			_ = os.RemoveAll(dir)
			return err
		})
		kvURL = s.URL()
	}
	if err := pingValkey(ctx, kvURL); err != nil {
		kvErr = fmt.Errorf("testenv: Valkey at %s is not reachable: %w; %s", redact(kvURL), err, howTo)
		return kvErr
	}
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// readStateFile reads KEY=VALUE lines from the state file of `make test`,
// looked up from the working directory towards the root.
func readStateFile() map[string]string {
	out := map[string]string{}
	dir, err := os.Getwd()
	if err != nil {
		return out
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return out
		}
		dir = parent
	}
	f, err := os.Open(filepath.Join(dir, StateFile))
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if ok && !strings.HasPrefix(k, "#") {
			out[k] = v
		}
	}
	return out
}

// pingValkey sends a RESP PING and expects +PONG (or an auth error, which
// still proves a server is there; the URL's credentials are the caller's).
func pingValkey(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("parse URL: %w", err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") && !strings.HasPrefix(line, "-NOAUTH") {
		return fmt.Errorf("unexpected answer to PING: %q", strings.TrimSpace(line))
	}
	return nil
}

// redact drops the password from a URL for messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// AdminURL is the URL of the test server's maintenance database with the
// configured (superuser) role. Tests that need their own database use
// Database instead.
func AdminURL(t testing.TB) string {
	t.Helper()
	if err := settlePostgres(); err != nil {
		t.Fatal(err)
	}
	return dbURL
}

var unsafeChars = regexp.MustCompile(`[^a-z0-9]+`)

// Database creates an empty database for the test and returns its URL. The
// database is dropped when the test ends.
func Database(t testing.TB) string {
	t.Helper()
	if err := settlePostgres(); err != nil {
		t.Fatal(err)
	}
	name := unsafeChars.ReplaceAllString(strings.ToLower(t.Name()), "_")
	if len(name) > 40 {
		name = name[:40]
	}
	name = "sovtest_" + name + "_" + randomHex(4)
	ctx := context.Background()
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("testenv: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("testenv: drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("testenv: parse database URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// Pool opens a pool on a fresh database (see Database); it is closed before
// the database is dropped.
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	u := Database(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, u)
	if err != nil {
		t.Fatalf("testenv: open pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// ValkeyURL is the URL of the test Valkey server. Tests share it, so every
// key and channel a test uses must start with KeyPrefix(t).
func ValkeyURL(t testing.TB) string {
	t.Helper()
	if err := settleValkey(); err != nil {
		t.Fatal(err)
	}
	return kvURL
}

var (
	s3Once sync.Once
	s3URL  string
	s3Err  error
)

// S3URL is the URL of the test S3-compatible store (see EnvS3URL), from the
// environment variable or else the state file of `make test`, or "" when
// neither names one: this package starts no S3 server itself, so callers
// decide whether to skip (package blobtest skips, except under CI). A
// configured store that does not accept connections fails the test.
func S3URL(t testing.TB) string {
	t.Helper()
	s3Once.Do(func() {
		s3URL = cmpOr(os.Getenv(EnvS3URL), readStateFile()[EnvS3URL])
		if s3URL == "" {
			return
		}
		u, err := url.Parse(s3URL)
		if err != nil {
			s3Err = fmt.Errorf("testenv: %s does not parse as a URL", EnvS3URL)
			return
		}
		conn, err := net.DialTimeout("tcp", u.Host, 10*time.Second)
		if err != nil {
			s3Err = fmt.Errorf("testenv: S3 at %s is not reachable: %w; run the tests with `make test` (it starts MinIO) or unset %s", u.Host, err, EnvS3URL)
			return
		}
		conn.Close()
	})
	if s3Err != nil {
		t.Fatal(s3Err)
	}
	return s3URL
}

// KeyPrefix returns a key and channel prefix unique to this test.
func KeyPrefix(t testing.TB) string {
	t.Helper()
	return "sovtest:" + unsafeChars.ReplaceAllString(strings.ToLower(t.Name()), "_") + ":" + randomHex(4) + ":"
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

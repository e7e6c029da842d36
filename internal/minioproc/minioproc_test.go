//go:build unix

package minioproc

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"go.uber.org/goleak"

	"github.com/sovereign-backend/sovereign/dataplane/storage/blob"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// binary returns the minio binary; the tests need one (`make tools`).
func binary(t *testing.T) string {
	t.Helper()
	bin, err := FindBinary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func start(t *testing.T, cfg Config) *Server {
	t.Helper()
	s, err := Start(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(context.Background()); err != nil {
			t.Errorf("Stop at cleanup: %v", err)
		}
	})
	return s
}

func stop(t *testing.T, s *Server) {
	t.Helper()
	if err := s.Stop(t.Context()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	select {
	case <-s.Wait():
	default:
		t.Fatal("Wait channel still open after Stop returned")
	}
	if err := syscall.Kill(s.PID(), 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("server pid %d after Stop: kill(pid, 0) = %v, want ESRCH", s.PID(), err)
	}
}

// roundTrip stores an object through the server's URL and reads it back.
func roundTrip(t *testing.T, s *Server, bucket string) {
	t.Helper()
	cfg, err := blob.ParseS3URL(s.URL(bucket))
	if err != nil {
		t.Fatalf("ParseS3URL(URL()): %v", err)
	}
	if cfg.Endpoint != s.Endpoint() || cfg.AccessKey != s.User() || cfg.SecretKey != s.Password() || cfg.Secure {
		t.Fatalf("URL() parses to %v", cfg)
	}
	b, err := blob.NewS3(cfg)
	if err != nil {
		t.Fatalf("NewS3: %v", err)
	}
	if _, err := b.Put(t.Context(), "roundtrip", "k", strings.NewReader("hello"), 5); err != nil {
		t.Fatalf("Put: %v", err)
	}
	rc, err := b.Get(t.Context(), "roundtrip", "k", 0, -1)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	defer rc.Close()
	if got, _ := io.ReadAll(rc); string(got) != "hello" {
		t.Errorf("Get = %q, want hello", got)
	}
}

func TestStartStop(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := start(t, Config{Dir: dir, Binary: binary(t)})
	roundTrip(t, s, "first")

	fi, err := os.Stat(filepath.Join(dir, credsFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("credentials file: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	// The console is off: only the S3 port listens.
	if s.Port() == 0 {
		t.Error("Port() = 0")
	}

	// Anonymous requests are refused.
	anon, err := minio.New(s.Endpoint(), &minio.Options{Creds: credentials.NewStaticV4("nobody", "wrongpassword", ""), BucketLookup: minio.BucketLookupPath})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := anon.ListBuckets(t.Context()); err == nil {
		t.Error("ListBuckets with wrong credentials succeeded")
	}

	stop(t, s)
	stop(t, s) // idempotent

	// A restart on the same directory keeps credentials and objects.
	s2 := start(t, Config{Dir: dir, Binary: binary(t)})
	if s2.User() != s.User() || s2.Password() != s.Password() {
		t.Error("restart changed the credentials")
	}
	cfg, _ := blob.ParseS3URL(s2.URL("first"))
	b, err := blob.NewS3(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := b.Get(t.Context(), "roundtrip", "k", 0, -1)
	if err != nil {
		t.Fatalf("Get after restart: %v", err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, []byte("hello")) {
		t.Errorf("after restart Get = %q", got)
	}
	stop(t, s2)
}

func TestPortTaken(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	_, err = Start(t.Context(), Config{Dir: t.TempDir(), Binary: binary(t), Port: port})
	if err == nil {
		t.Fatalf("Start on port %d, which a listener holds, succeeded", port)
	}
	if !strings.Contains(err.Error(), strconv.Itoa(port)) {
		t.Errorf("err = %v, want it to name port %d", err, port)
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	if _, err := Start(t.Context(), Config{}); err == nil {
		t.Error("Start without Dir succeeded")
	}
	if _, err := Start(t.Context(), Config{Dir: t.TempDir(), Port: 70000}); err == nil {
		t.Error("Start on port 70000 succeeded")
	}
	if _, err := Start(t.Context(), Config{Dir: t.TempDir(), Binary: filepath.Join(t.TempDir(), "no-minio")}); err == nil {
		t.Error("Start with a missing binary succeeded")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, credsFile), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Start(t.Context(), Config{Dir: dir, Binary: binary(t)}); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("Start with a damaged credentials file: err = %v", err)
	}
}

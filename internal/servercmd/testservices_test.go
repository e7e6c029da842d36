package servercmd

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sovereign-backend/sovereign/dataplane/storage/blob"
	"github.com/sovereign-backend/sovereign/internal/testenv"
)

func TestTestServicesS3AgreesWithTestenv(t *testing.T) {
	if testEnvS3URL != testenv.EnvS3URL {
		t.Fatalf("test-services exports %s, internal/testenv reads %s", testEnvS3URL, testenv.EnvS3URL)
	}
}

// TestStartTestMinIO starts the MinIO that test-services gives the tests
// (bin/tools/minio: `make tools`) and uses its URL as the tests would.
func TestStartTestMinIO(t *testing.T) {
	var st stack
	defer func() {
		if err := st.close(context.Background()); err != nil {
			t.Errorf("stop: %v", err)
		}
	}()
	raw, err := startTestMinIO(t.Context(), &st, t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if raw == "" {
		t.Fatal("no MinIO started although the workspace has bin/tools/minio (`make tools`)")
	}
	cfg, err := blob.ParseS3URL(raw)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Bucket != testS3Bucket || cfg.Secure || !strings.HasPrefix(cfg.Endpoint, "127.0.0.1:") {
		t.Errorf("URL gives %v; want bucket %s on 127.0.0.1 without TLS", cfg, testS3Bucket)
	}
	b, err := blob.NewS3(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(t.Context(), "abcd", "k", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
}

// TestStartTestMinIOMissing checks what happens without a minio binary:
// nothing, except under CI, where it is an error that says how to get one.
func TestStartTestMinIOMissing(t *testing.T) {
	t.Chdir(t.TempDir()) // no workspace, so no bin/tools
	t.Setenv("PATH", "")
	logger := slog.New(slog.DiscardHandler)
	var st stack
	t.Setenv("CI", "")
	raw, err := startTestMinIO(t.Context(), &st, filepath.Join(t.TempDir(), "x"), logger)
	if raw != "" || err != nil {
		t.Errorf("without minio and CI: %q, %v; want \"\", nil", raw, err)
	}
	t.Setenv("CI", "true")
	raw, err = startTestMinIO(t.Context(), &st, filepath.Join(t.TempDir(), "x"), logger)
	if err == nil || !strings.Contains(err.Error(), "make tools") {
		t.Errorf("without minio under CI: %q, %v; want an error naming `make tools`", raw, err)
	}
	if err := st.close(context.Background()); err != nil {
		t.Error(err)
	}
}

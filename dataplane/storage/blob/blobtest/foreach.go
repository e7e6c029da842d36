// Package blobtest is the conformance suite of blob.Backend (Run) and the
// harness that runs a test against every backend (ForEach): local disk in a
// temporary directory, and S3 against the store of testenv.S3URL (MinIO,
// which `make test` starts), in a bucket of its own.
//
// Packages that build on blob (the storage service, its tus uploads) run
// their own backend-dependent tests through ForEach too. Their TestMain
// must call testenv.Main.
package blobtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/sovereign-backend/sovereign/dataplane/storage/blob"
	"github.com/sovereign-backend/sovereign/internal/testenv"
)

// NoS3Message is why the "s3" subtest of ForEach skips, or fails under CI,
// when no S3 store is configured.
const NoS3Message = "no S3 store for the tests: run them with `make test` (it starts MinIO), " +
	"or set " + testenv.EnvS3URL + "=s3://ACCESS:SECRET@HOST:PORT/BUCKET?region=us-east-1&secure=false"

// ForEach runs fn as the subtests "local", on a Local backend in a fresh
// temporary directory, and "s3", on an S3 backend in a fresh bucket of the
// test store (the bucket in its URL is replaced by a random one), which is
// removed with everything in it when the subtest ends. fn may call
// t.Parallel.
//
// Without a configured S3 store the "s3" subtest is skipped with
// NoS3Message, except when the environment variable CI is true: there it
// fails, so that CI cannot pass without having run it.
func ForEach(t *testing.T, fn func(t *testing.T, b blob.Backend)) {
	t.Helper()
	t.Run("local", func(t *testing.T) {
		b, err := blob.NewLocal(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		fn(t, b)
	})
	t.Run("s3", func(t *testing.T) {
		fn(t, NewS3(t))
	})
}

// NewS3 returns an S3 backend on a fresh bucket of the test store, removed
// (with its objects) when the test ends. It skips or fails like ForEach
// when no store is configured.
func NewS3(t testing.TB) *blob.S3 {
	t.Helper()
	raw := testenv.S3URL(t)
	if raw == "" {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatal(NoS3Message + " (CI is set, so this fails rather than skips)")
		}
		t.Skip(NoS3Message)
	}
	cfg, err := blob.ParseS3URL(raw)
	if err != nil {
		t.Fatalf("%s: %v", testenv.EnvS3URL, err)
	}
	cfg.Bucket = "sovtest-" + randomHex(8)
	b, err := blob.NewS3(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client, err := minio.New(cfg.Endpoint, &minio.Options{
			Creds:        credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
			Secure:       cfg.Secure,
			Region:       cfg.Region,
			BucketLookup: minio.BucketLookupPath,
		})
		if err != nil {
			t.Errorf("remove test bucket %s: %v", cfg.Bucket, err)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// ForceDelete is MinIO's: it removes the objects and the bucket at
		// once.
		if err := client.RemoveBucketWithOptions(ctx, cfg.Bucket, minio.RemoveBucketOptions{ForceDelete: true}); err != nil {
			t.Errorf("remove test bucket %s: %v", cfg.Bucket, err)
		}
	})
	return b
}

// NewRef returns a fresh tenant ref, so that tests sharing a backend do not
// see each other's blobs.
func NewRef() string {
	return "t" + randomHex(6)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

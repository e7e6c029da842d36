package blob_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/sovereign-backend/sovereign/dataplane/storage/blob"
	"github.com/sovereign-backend/sovereign/dataplane/storage/blob/blobtest"
	"github.com/sovereign-backend/sovereign/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestConformance runs the suite against local disk and MinIO.
func TestConformance(t *testing.T) {
	blobtest.ForEach(t, func(t *testing.T, b blob.Backend) {
		blobtest.Run(t, b)
	})
}

func TestParseS3URL(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in      string
		want    blob.S3Config
		wantErr string // a fragment; "" for success
	}{
		{in: "s3://AK:SK@127.0.0.1:9000/bucket?region=us-east-1&secure=false",
			want: blob.S3Config{Endpoint: "127.0.0.1:9000", AccessKey: "AK", SecretKey: "SK", Bucket: "bucket", Region: "us-east-1"}},
		{in: "s3://AK:S%2FK%40x@s3.example.com/b",
			want: blob.S3Config{Endpoint: "s3.example.com", AccessKey: "AK", SecretKey: "S/K@x", Bucket: "b", Region: "us-east-1", Secure: true}},
		{in: "s3://AK:SK@h:1/b?region=eu-west-3&secure=true",
			want: blob.S3Config{Endpoint: "h:1", AccessKey: "AK", SecretKey: "SK", Bucket: "b", Region: "eu-west-3", Secure: true}},
		{in: "http://AK:SK@h/b", wantErr: "scheme"},
		{in: "s3://h/b", wantErr: "ACCESS:SECRET"},
		{in: "s3://AK@h/b", wantErr: "ACCESS:SECRET"},
		{in: "s3://AK:SK@/b", wantErr: "HOST"},
		{in: "s3://AK:SK@h", wantErr: "bucket"},
		{in: "s3://AK:SK@h/", wantErr: "bucket"},
		{in: "s3://AK:SK@h/b/c", wantErr: "bucket"},
		{in: "s3://AK:SK@h/b?secure=maybe", wantErr: "secure"},
		{in: "s3://AK:SK@h/b?region=", wantErr: "region"},
		{in: "s3://AK:SK@h/b?regoin=x", wantErr: "unknown parameter"},
		{in: "s3://AK:topsecret@h:99999999999/b%zz", wantErr: "does not parse"},
	} {
		got, err := blob.ParseS3URL(c.in)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("ParseS3URL(%q) = %+v, %v; want an error about %q", c.in, got, err, c.wantErr)
			}
			if err != nil && (strings.Contains(err.Error(), "SK") || strings.Contains(err.Error(), "topsecret")) {
				t.Errorf("ParseS3URL(%q): the error shows the secret: %v", c.in, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseS3URL(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
		if strings.Contains(got.String(), got.SecretKey) {
			t.Errorf("S3Config.String() shows the secret: %s", got)
		}
	}
}

func TestOpen(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "files")
	b, err := blob.Open(dir, "")
	if err != nil || b.Name() != "local" {
		t.Fatalf("Open(dir, \"\") = %v, %v; want a local backend", b, err)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Errorf("Open did not create %s: %v", dir, err)
	}
	if _, err := blob.Open(dir, "s3://nope"); err == nil {
		t.Error("Open with a bad S3 URL succeeded")
	}
	if _, err := blob.NewLocal(""); err == nil {
		t.Error("NewLocal(\"\") succeeded")
	}
	if raw := testenv.S3URL(t); raw != "" {
		b, err := blob.Open(dir, raw)
		if err != nil || b.Name() != "s3" {
			t.Fatalf("Open(dir, S3 URL) = %v, %v; want an S3 backend", b, err)
		}
	}
}

// TestS3BadCredentials checks that NewS3 fails at once on a store that
// refuses the credentials.
func TestS3BadCredentials(t *testing.T) {
	t.Parallel()
	raw := testenv.S3URL(t)
	if raw == "" {
		blobtest.NewS3(t) // skips, or fails under CI, saying how to get a store
		return
	}
	cfg, err := blob.ParseS3URL(raw)
	if err != nil {
		t.Fatal(err)
	}
	cfg.SecretKey = "wrong-secret-key"
	if _, err := blob.NewS3(cfg); err == nil {
		t.Fatal("NewS3 with a wrong secret key succeeded")
	} else if strings.Contains(err.Error(), cfg.SecretKey) {
		t.Errorf("the error shows the secret: %v", err)
	}
}

// TestLocalKeySegment checks the local backend's own limit: a key segment
// longer than a file name may be.
func TestLocalKeySegment(t *testing.T) {
	t.Parallel()
	b, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	key := strings.Repeat("s", 256)
	if _, err := b.Put(t.Context(), "tenant1", key, strings.NewReader("x"), 1); !errors.Is(err, blob.ErrInvalidKey) {
		t.Errorf("Put of a 256-byte segment: err = %v, want ErrInvalidKey", err)
	}
	if _, err := b.Put(t.Context(), "tenant1", key[:255], strings.NewReader("x"), 1); err != nil {
		t.Errorf("Put of a 255-byte segment: %v", err)
	}
}

// TestS3Leftovers checks that Leftovers sees a multipart upload left
// incomplete, so that the suite's check after failed Puts can fail.
func TestS3Leftovers(t *testing.T) {
	t.Parallel()
	b := blobtest.NewS3(t)
	cfg, err := blob.ParseS3URL(testenv.S3URL(t))
	if err != nil {
		t.Fatal(err)
	}
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:       cfg.Secure,
		Region:       cfg.Region,
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	ref := blobtest.NewRef()
	core := minio.Core{Client: client}
	id, err := core.NewMultipartUpload(t.Context(), b.Bucket(), "t_"+ref+"/half/done", minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	left, err := b.Leftovers(t.Context(), ref)
	if err != nil || len(left) != 1 || left[0] != "half/done" {
		t.Errorf("Leftovers = %v, %v; want [half/done]", left, err)
	}
	if left, err := b.Leftovers(t.Context(), blobtest.NewRef()); err != nil || len(left) != 0 {
		t.Errorf("another tenant's Leftovers = %v, %v; want none", left, err)
	}
	if err := core.AbortMultipartUpload(t.Context(), b.Bucket(), "t_"+ref+"/half/done", id); err != nil {
		t.Fatal(err)
	}
	if left, err := b.Leftovers(t.Context(), ref); err != nil || len(left) != 0 {
		t.Errorf("after the abort Leftovers = %v, %v; want none", left, err)
	}
}

package blob

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// PartSize is the size of one part of a multipart upload to S3, in bytes.
// minio-go holds one part in memory while it sends it, so this is what a Put
// of more than PartSize bytes (or of unknown size) costs in memory: 16 MiB.
// S3 allows at most 10,000 parts, so the largest blob is 10,000 × PartSize
// (156.25 GiB); a Put of a larger known size is refused up front. Smaller
// parts would allow less; S3's minimum part is 5 MiB.
const PartSize = 16 << 20

// S3Config says where an S3 backend keeps blobs. ParseS3URL makes one from
// a URL.
type S3Config struct {
	// Endpoint is HOST:PORT (or HOST) of the S3-compatible server, without
	// a scheme. Required.
	Endpoint string
	// AccessKey and SecretKey are the credentials (signature V4). Required.
	AccessKey, SecretKey string
	// Bucket holds every tenant's blobs, each tenant under its own prefix
	// "t_<ref>/". It is created when missing. Required.
	Bucket string
	// Region is the bucket's region. Default "us-east-1".
	Region string
	// Secure makes the client use TLS (https).
	Secure bool
	// Timeout bounds the check (and creation) of the bucket in NewS3.
	// Default 30s.
	Timeout time.Duration
}

// String describes the configuration without the secret key, so that it can
// be logged.
func (c S3Config) String() string {
	scheme := "http"
	if c.Secure {
		scheme = "https"
	}
	return fmt.Sprintf("s3 bucket %q at %s://%s (region %s, access key %s)", c.Bucket, scheme, c.Endpoint, cmp.Or(c.Region, "us-east-1"), c.AccessKey)
}

// ParseS3URL parses the data plane's S3 URL (dataplane.Config.StorageS3URL):
//
//	s3://ACCESS:SECRET@HOST:PORT/BUCKET?region=us-east-1&secure=false
//
// The access and secret keys are percent-encoded as in any URL userinfo
// (a '/' in a secret is %2F). region defaults to "us-east-1"; secure (TLS)
// defaults to true and takes "true" or "false". Buckets are always
// addressed path-style (http://HOST:PORT/BUCKET/KEY), which every
// S3-compatible server accepts. Other query parameters are errors, so a
// misspelt one does not go unnoticed.
func ParseS3URL(raw string) (S3Config, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url's errors quote the whole URL, secret included.
		return S3Config{}, errors.New("blob: S3 URL does not parse; the form is s3://ACCESS:SECRET@HOST:PORT/BUCKET?region=R&secure=false")
	}
	if u.Scheme != "s3" {
		return S3Config{}, fmt.Errorf("blob: S3 URL scheme is %q, want s3", u.Scheme)
	}
	if u.Host == "" {
		return S3Config{}, errors.New("blob: S3 URL has no HOST:PORT")
	}
	cfg := S3Config{Endpoint: u.Host, Region: "us-east-1", Secure: true}
	if u.User != nil {
		cfg.AccessKey = u.User.Username()
		cfg.SecretKey, _ = u.User.Password()
	}
	if cfg.AccessKey == "" || cfg.SecretKey == "" {
		return S3Config{}, errors.New("blob: S3 URL lacks ACCESS:SECRET@ before the host")
	}
	cfg.Bucket = strings.TrimPrefix(u.Path, "/")
	if cfg.Bucket == "" || strings.Contains(cfg.Bucket, "/") {
		return S3Config{}, fmt.Errorf("blob: S3 URL path %q is not one bucket name", u.Path)
	}
	for k, v := range u.Query() {
		switch k {
		case "region":
			if v[0] == "" {
				return S3Config{}, errors.New("blob: S3 URL region is empty")
			}
			cfg.Region = v[0]
		case "secure":
			b, err := strconv.ParseBool(v[0])
			if err != nil {
				return S3Config{}, fmt.Errorf("blob: S3 URL secure=%q, want true or false", v[0])
			}
			cfg.Secure = b
		default:
			return S3Config{}, fmt.Errorf("blob: S3 URL has unknown parameter %q (known: region, secure)", k)
		}
	}
	return cfg, nil
}

// S3 stores blobs in one bucket of an S3-compatible object store (AWS S3,
// MinIO, Ceph RGW, ...), tenant ref's blob key k as the object
// "t_<ref>/<k>".
//
// Put streams: a blob of known size up to PartSize goes in one PUT, larger
// or unknown ones in a multipart upload of PartSize parts, which minio-go
// aborts when the reader or the context fails, so a failed Put leaves no
// object (and the previous one, if any, in place). Copy happens inside the
// server (CopyObject, or a multipart copy for objects over 5 GiB). An
// interrupted multipart upload whose abort also failed (the server was
// gone) leaves parts that are invisible to List; a bucket lifecycle rule
// (AbortIncompleteMultipartUpload) cleans those up.
type S3 struct {
	client *minio.Client
	core   minio.Core
	bucket string
}

var _ Backend = (*S3)(nil)

// NewS3 returns an S3 backend. It checks that the bucket exists and creates
// it when it does not, so a wrong endpoint or credentials fail here rather
// than at the first upload.
func NewS3(cfg S3Config) (*S3, error) {
	if cfg.Endpoint == "" || cfg.AccessKey == "" || cfg.SecretKey == "" || cfg.Bucket == "" {
		return nil, errors.New("blob: S3 endpoint, access key, secret key and bucket are required")
	}
	cfg.Region = cmp.Or(cfg.Region, "us-east-1")
	cfg.Timeout = cmp.Or(cfg.Timeout, 30*time.Second)
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:       cfg.Secure,
		Region:       cfg.Region,
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		return nil, fmt.Errorf("blob: %s: %w", cfg, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
	defer cancel()
	ok, err := client.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("blob: %s: %w", cfg, err)
	}
	if !ok {
		err := client.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{Region: cfg.Region})
		if err != nil && !isCode(err, "BucketAlreadyOwnedByYou") {
			return nil, fmt.Errorf("blob: create %s: %w", cfg, err)
		}
	}
	return &S3{client: client, core: minio.Core{Client: client}, bucket: cfg.Bucket}, nil
}

// Name returns "s3".
func (s *S3) Name() string { return "s3" }

// Bucket returns the name of the bucket the blobs are in.
func (s *S3) Bucket() string { return s.bucket }

// tenantPrefix is where ref's objects are.
func tenantPrefix(ref string) string { return "t_" + ref + "/" }

// object returns the object name of ref's key, after checking both.
func object(ref, key string) (string, error) {
	if err := checkRef(ref); err != nil {
		return "", err
	}
	if err := checkKey(key); err != nil {
		return "", err
	}
	return tenantPrefix(ref) + key, nil
}

// Put implements Backend.
func (s *S3) Put(ctx context.Context, ref, key string, r io.Reader, size int64) (Info, error) {
	name, err := object(ref, key)
	if err != nil {
		return Info{}, err
	}
	if size > 10000*PartSize {
		return Info{}, fmt.Errorf("blob: put %s: %d bytes is more than the largest blob, %d", key, size, int64(10000*PartSize))
	}
	// Hide any ReaderAt or Seeker of r: minio-go would read such a source
	// with several parts in memory at once.
	src := io.Reader(readerOnly{ctxReader{ctx, r}})
	if size >= 0 {
		er := &exactReader{r: r, n: size}
		if size == 0 {
			// minio-go reads nothing for an empty object.
			if err := er.checkEnd(); err != io.EOF {
				return Info{}, fmt.Errorf("blob: put %s: %w", key, err)
			}
		}
		src = readerOnly{ctxReader{ctx, er}}
	}
	info, err := s.client.PutObject(ctx, s.bucket, name, src, size, minio.PutObjectOptions{
		PartSize:    PartSize,
		ContentType: "application/octet-stream",
	})
	if err != nil {
		return Info{}, fmt.Errorf("blob: put %s: %w", key, err)
	}
	return Info{Key: key, Size: info.Size}, nil
}

// Get implements Backend.
func (s *S3) Get(ctx context.Context, ref, key string, offset, length int64) (io.ReadCloser, error) {
	name, err := object(ref, key)
	if err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, fmt.Errorf("%w: negative offset %d", ErrInvalidRange, offset)
	}
	if length == 0 {
		// No range header can ask for zero bytes; check what a read of
		// them would.
		info, err := s.Stat(ctx, ref, key)
		if err != nil {
			return nil, err
		}
		if offset > info.Size {
			return nil, fmt.Errorf("blob: get %s: offset %d of %d bytes: %w", key, offset, info.Size, ErrInvalidRange)
		}
		return io.NopCloser(bytes.NewReader(nil)), nil
	}
	var opts minio.GetObjectOptions
	switch {
	case length > 0:
		err = opts.SetRange(offset, offset+length-1) // S3 clips an end past the object's
	case offset > 0:
		err = opts.SetRange(offset, 0) // bytes=offset-
	}
	if err != nil {
		return nil, fmt.Errorf("blob: get %s: %w", key, err)
	}
	body, _, _, err := s.core.GetObject(ctx, s.bucket, name, opts)
	if isCode(err, "InvalidRange") {
		// S3 refuses a range that starts at the end; so does an empty
		// object any range. Starting at the end is allowed here.
		info, serr := s.Stat(ctx, ref, key)
		if serr != nil {
			return nil, serr
		}
		if offset == info.Size {
			return io.NopCloser(bytes.NewReader(nil)), nil
		}
		return nil, fmt.Errorf("blob: get %s: offset %d of %d bytes: %w", key, offset, info.Size, ErrInvalidRange)
	}
	if err != nil {
		return nil, s3Error("get", key, err)
	}
	return body, nil
}

// Stat implements Backend.
func (s *S3) Stat(ctx context.Context, ref, key string) (Info, error) {
	name, err := object(ref, key)
	if err != nil {
		return Info{}, err
	}
	oi, err := s.client.StatObject(ctx, s.bucket, name, minio.StatObjectOptions{})
	if err != nil {
		return Info{}, s3Error("stat", key, err)
	}
	return Info{Key: key, Size: oi.Size}, nil
}

// Copy implements Backend. The server copies; objects over 5 GiB are
// copied in parts (ComposeObject).
func (s *S3) Copy(ctx context.Context, ref, src, dst string) (Info, error) {
	from, err := object(ref, src)
	if err != nil {
		return Info{}, err
	}
	to, err := object(ref, dst)
	if err != nil {
		return Info{}, err
	}
	if from == to {
		// S3 refuses to copy an object onto itself unchanged.
		return s.Stat(ctx, ref, src)
	}
	_, err = s.client.ComposeObject(ctx,
		minio.CopyDestOptions{Bucket: s.bucket, Object: to},
		minio.CopySrcOptions{Bucket: s.bucket, Object: from})
	if err != nil {
		return Info{}, s3Error("copy", src, err)
	}
	return s.Stat(ctx, ref, dst)
}

// Delete implements Backend.
func (s *S3) Delete(ctx context.Context, ref, key string) error {
	name, err := object(ref, key)
	if err != nil {
		return err
	}
	if err := s.client.RemoveObject(ctx, s.bucket, name, minio.RemoveObjectOptions{}); err != nil && !isCode(err, "NoSuchKey") {
		return s3Error("delete", key, err)
	}
	return nil
}

// List implements Backend. S3 lists keys in byte order.
func (s *S3) List(ctx context.Context, ref, prefix string, fn func(Info) bool) error {
	if err := checkRef(ref); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops minio-go's lister when fn stops early
	tp := tenantPrefix(ref)
	for oi := range s.client.ListObjectsIter(ctx, s.bucket, minio.ListObjectsOptions{Prefix: tp + prefix, Recursive: true}) {
		if oi.Err != nil {
			return fmt.Errorf("blob: list: %w", oi.Err)
		}
		if !fn(Info{Key: strings.TrimPrefix(oi.Key, tp), Size: oi.Size}) {
			return nil
		}
	}
	return ctx.Err()
}

// DeleteTenant implements Backend: it removes every object under the
// tenant's prefix, in batches (multi-object delete).
func (s *S3) DeleteTenant(ctx context.Context, ref string) error {
	if err := checkRef(ref); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	objects := s.client.ListObjectsIter(ctx, s.bucket, minio.ListObjectsOptions{Prefix: tenantPrefix(ref), Recursive: true})
	var listErr error
	toRemove := func(yield func(minio.ObjectInfo) bool) {
		for oi := range objects {
			if oi.Err != nil {
				listErr = oi.Err
				return
			}
			if !yield(oi) {
				return
			}
		}
	}
	results, err := s.client.RemoveObjectsWithIter(ctx, s.bucket, toRemove, minio.RemoveObjectsOptions{})
	if err != nil {
		return fmt.Errorf("blob: delete tenant: %w", err)
	}
	for res := range results {
		if res.Err != nil && !isCode(res.Err, "NoSuchKey") {
			return fmt.Errorf("blob: delete tenant: %s: %w", strings.TrimPrefix(res.ObjectName, tenantPrefix(ref)), res.Err)
		}
	}
	if listErr != nil {
		return fmt.Errorf("blob: delete tenant: %w", listErr)
	}
	return ctx.Err()
}

// isCode reports whether err is an S3 error response with code.
func isCode(err error, code string) bool {
	return err != nil && minio.ToErrorResponse(err).Code == code
}

// s3Error maps S3's "no such key" to ErrNotFound and wraps the rest.
func s3Error(op, key string, err error) error {
	switch {
	case isCode(err, "NoSuchKey"), isCode(err, "NoSuchObject"):
		return fmt.Errorf("blob: %s %s: %w", op, key, ErrNotFound)
	case isCode(err, "InvalidRange"):
		return fmt.Errorf("blob: %s %s: %w", op, key, ErrInvalidRange)
	}
	return fmt.Errorf("blob: %s %s: %w", op, key, err)
}

// readerOnly hides every method of a reader but Read.
type readerOnly struct{ r io.Reader }

func (r readerOnly) Read(p []byte) (int, error) { return r.r.Read(p) }

// Leftovers returns the keys of the tenant's multipart uploads that were
// started and neither completed nor aborted: what interrupted Puts left
// behind, invisible to List but stored (and billed) until a lifecycle rule
// or an abort removes them. The conformance suite checks that failed Puts
// leave none.
func (s *S3) Leftovers(ctx context.Context, ref string) ([]string, error) {
	if err := checkRef(ref); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tp := tenantPrefix(ref)
	var keys []string
	// The whole bucket's, filtered here: MinIO lists incomplete uploads
	// by exact object name only, not by prefix.
	for u := range s.client.ListIncompleteUploads(ctx, s.bucket, "", true) {
		if u.Err != nil {
			return nil, fmt.Errorf("blob: list incomplete uploads: %w", u.Err)
		}
		if k, ok := strings.CutPrefix(u.Key, tp); ok {
			keys = append(keys, k)
		}
	}
	return keys, nil
}

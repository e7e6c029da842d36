package storage

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strings"

	"connectrpc.com/connect"

	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
)

// ErrTooLarge is wrapped by the ResourceExhausted error of an upload over
// the bucket's or the platform's object limit or the project's quota; REST
// answers it with 413.
var ErrTooLarge = errors.New("upload too large")

// ErrPrecondition is wrapped by the FailedPrecondition error of an upload
// whose If-Match or If-None-Match does not hold; REST answers it with 412.
var ErrPrecondition = errors.New("precondition failed")

type tooLargeError struct{ msg string }

func (e *tooLargeError) Error() string { return e.msg }
func (e *tooLargeError) Unwrap() error { return ErrTooLarge }

func tooLarge(format string, args ...any) error {
	return connect.NewError(connect.CodeResourceExhausted, &tooLargeError{msg: fmt.Sprintf(format, args...)})
}

type preconditionError struct{ msg string }

func (e *preconditionError) Error() string { return e.msg }
func (e *preconditionError) Unwrap() error { return ErrPrecondition }

func preconditionFailed(format string, args ...any) error {
	return connect.NewError(connect.CodeFailedPrecondition, &preconditionError{msg: fmt.Sprintf(format, args...)})
}

// newID is a random object-version id for a blob key.
func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// quota is the project's storage limit, 0 for none.
func (s *Service) quota(ctx context.Context, ref string) (int64, error) {
	if s.cfg.QuotaBytes == nil {
		return 0, nil
	}
	n, err := s.cfg.QuotaBytes(ctx, ref)
	if err != nil {
		return 0, fmt.Errorf("read storage quota: %w", err)
	}
	return n, nil
}

// maxObject is the largest object b takes.
func (s *Service) maxObject(b *bucketRow) int64 {
	if b.maxObjectBytes > 0 && b.maxObjectBytes < s.cfg.MaxObjectBytes {
		return b.maxObjectBytes
	}
	return s.cfg.MaxObjectBytes
}

// checkFits refuses a content type b does not take (InvalidArgument) and
// a size over b's limit (ResourceExhausted, ErrTooLarge).
func (s *Service) checkFits(b *bucketRow, contentType string, size int64) error {
	if !contentTypeAllowed(contentType, b.allowedContentTypes) {
		return invalidf("content type %q is not allowed in bucket %q; it takes %s", contentType, b.name, strings.Join(b.allowedContentTypes, ", "))
	}
	if max := s.maxObject(b); size > max {
		return tooLarge("the object is %d bytes, more than the limit of %d bytes of bucket %q", size, max, b.name)
	}
	return nil
}

// precondition is an upload's If-None-Match: * (create only) and
// If-Match (replace only that etag).
type precondition struct {
	noneMatch bool
	match     string
}

// lockUsage takes the lock of the usage row. Every transaction that
// changes object rows takes it before it locks any of them (commit, and
// DeleteObjects and moves before they read their objects FOR UPDATE), so
// that they queue in one order and never deadlock.
func lockUsage(ctx context.Context, q tenantdb.Querier, t tables) error {
	if _, err := q.Exec(ctx, `SELECT 1 FROM `+t.usage+` WHERE id = 1 FOR UPDATE`); err != nil {
		return fmt.Errorf("lock usage: %w", err)
	}
	return nil
}

// commit inserts or replaces o's row and adjusts the usage in q, with the
// quota re-checked under the usage row's lock. It returns the stored
// object and the replaced one, whose blob the caller deletes after the
// commit.
func (s *Service) commit(ctx context.Context, q tenantdb.Querier, t tables, b *bucketRow, o *Object, limit int64, pre precondition) (*Object, *Object, error) {
	var bytes, count int64
	if err := q.QueryRow(ctx, `SELECT bytes, objects FROM `+t.usage+` WHERE id = 1 FOR UPDATE`).Scan(&bytes, &count); err != nil {
		return nil, nil, fmt.Errorf("lock usage: %w", err)
	}
	old, err := loadObject(ctx, q, t, b, o.Name, true)
	if err != nil && connect.CodeOf(err) != connect.CodeNotFound {
		return nil, nil, err
	}
	switch {
	case pre.noneMatch && old != nil:
		return nil, nil, preconditionFailed("object %q exists (If-None-Match: *)", o.Name)
	case pre.match != "" && (old == nil || !etagMatch(pre.match, old.ETag)):
		return nil, nil, preconditionFailed("object %q is not at version %s (If-Match)", o.Name, pre.match)
	}
	delta, dcount := o.Size, int64(1)
	if old != nil {
		delta, dcount = o.Size-old.Size, 0
	}
	if limit > 0 && delta > 0 && bytes+delta > limit {
		return nil, nil, tooLarge("the project's storage quota of %d bytes would be passed: %d bytes are used and the object is %d bytes", limit, bytes, o.Size)
	}
	if old != nil {
		_, err = q.Exec(ctx, `UPDATE `+t.objects+` SET blob_key = $2, size = $3, content_type = $4, sha256 = $5, etag = $6, metadata = $7,
			version = version + 1, updated_at = clock_timestamp() WHERE id = $1`, old.ID, o.BlobKey, o.Size, o.ContentType, o.SHA256, o.ETag, nonNilMap(o.Metadata))
	} else {
		_, err = q.Exec(ctx, `INSERT INTO `+t.objects+` (bucket_id, name, blob_key, size, content_type, sha256, etag, metadata)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, b.id, o.Name, o.BlobKey, o.Size, o.ContentType, o.SHA256, o.ETag, nonNilMap(o.Metadata))
	}
	if err != nil {
		return nil, nil, fmt.Errorf("write object: %w", err)
	}
	if _, err := q.Exec(ctx, `UPDATE `+t.usage+` SET bytes = bytes + $1, objects = objects + $2 WHERE id = 1`, delta, dcount); err != nil {
		return nil, nil, fmt.Errorf("update usage: %w", err)
	}
	out, err := loadObject(ctx, q, t, b, o.Name, false)
	return out, old, err
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// etagMatch compares an If-Match value (quoted or bare, or *) with an
// etag.
func etagMatch(want, etag string) bool {
	want = strings.TrimSpace(want)
	if want == "*" {
		return true
	}
	for v := range strings.SplitSeq(want, ",") {
		v = strings.TrimPrefix(strings.TrimSpace(v), "W/")
		if strings.Trim(v, `"`) == strings.Trim(etag, `"`) {
			return true
		}
	}
	return false
}

// PutParams describe an upload.
type PutParams struct {
	Bucket, Name string
	// ContentType is the client's; empty sniffs it from the first 512
	// bytes.
	ContentType string
	// Size is the body's length, or -1 when unknown.
	Size int64
	// SHA256 is the client's hex checksum, or "".
	SHA256   string
	Metadata map[string]string
	// IfNoneMatch creates only; IfMatch replaces only that etag.
	IfNoneMatch bool
	IfMatch     string
	Body        io.Reader
}

// Put stores an object from p.Body, streaming: the name, content type,
// rules, limits and quota are checked first (with Size when known, before
// a byte is read); the body goes through a SHA-256 hasher and a limit into
// a new blob; a checksum mismatch or an overflow deletes it; then the row
// is swapped in one transaction, which checks the write rule again with
// the size read (a body of unknown size meets the first check with
// object.size -1). It reports whether the object was
// created (not replaced).
func (s *Service) Put(ctx context.Context, p PutParams) (*Object, bool, error) {
	w, err := s.callerOf(ctx)
	if err != nil {
		return nil, false, err
	}
	return s.put(ctx, w, p)
}

func (s *Service) put(ctx context.Context, w who, p PutParams) (*Object, bool, error) {
	if err := CheckObjectName(p.Name); err != nil {
		return nil, false, err
	}
	if err := CheckMetadata(p.Metadata); err != nil {
		return nil, false, err
	}
	if p.SHA256 != "" {
		if raw, err := hex.DecodeString(p.SHA256); err != nil || len(raw) != sha256.Size {
			return nil, false, invalidf("the checksum %q is not a hex SHA-256", p.SHA256)
		}
		p.SHA256 = strings.ToLower(p.SHA256)
	}
	ref := w.id.TenantRef
	b, err := s.bucket(ctx, ref, p.Bucket)
	if err != nil {
		return nil, false, err
	}
	body := bufio.NewReaderSize(p.Body, 512)
	if p.ContentType == "" {
		head, _ := body.Peek(512)
		p.ContentType = http.DetectContentType(head)
	}
	if mediaType(p.ContentType) == "" {
		return nil, false, invalidf("content type %q is not a media type", p.ContentType)
	}
	if err := s.authorize(w, b, opWrite, objectValues(p.Name, p.Size, p.ContentType, p.Metadata)); err != nil {
		return nil, false, err
	}
	limit, err := s.quota(ctx, ref)
	if err != nil {
		return nil, false, err
	}
	if err := s.checkFits(b, p.ContentType, max(p.Size, 0)); err != nil {
		return nil, false, err
	}
	used, _, err := s.usage(ctx, ref)
	if err != nil {
		return nil, false, err
	}
	maxBytes := s.maxObject(b)
	if limit > 0 {
		if p.Size >= 0 && used+p.Size > limit {
			return nil, false, tooLarge("the project's storage quota of %d bytes would be passed: %d bytes are used and the object is %d bytes", limit, used, p.Size)
		}
		maxBytes = min(maxBytes, max(limit-used, 0))
	}
	h := sha256.New()
	lr := &limitReader{r: body, n: maxBytes, h: h}
	key := b.id + "/" + newID()
	info, err := s.cfg.Blobs.Put(ctx, ref, key, lr, p.Size)
	if err != nil {
		s.deleteBlobs(ctx, ref, []string{key})
		if lr.over {
			return nil, false, tooLarge("the object is more than the %d bytes this upload may store (bucket limit %d bytes, quota %d bytes with %d used)", maxBytes, s.maxObject(b), limit, used)
		}
		if p.Size >= 0 && lr.read != p.Size {
			return nil, false, invalidf("the body is not the %d bytes of Content-Length", p.Size)
		}
		return nil, false, fmt.Errorf("store blob: %w", err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if p.SHA256 != "" && p.SHA256 != sum {
		s.deleteBlobs(ctx, ref, []string{key})
		return nil, false, invalidf("checksum mismatch: X-Checksum-SHA256 is %s but the body's SHA-256 is %s; nothing was stored", p.SHA256, sum)
	}
	o := &Object{Bucket: b.name, Name: p.Name, BlobKey: key, Size: info.Size, ContentType: p.ContentType, SHA256: sum,
		ETag: `"` + sum[:32] + `"`, Metadata: p.Metadata}
	var out, old *Object
	err = s.tx(ctx, ref, func(q tenantdb.Querier, t tables) error {
		// The bucket may have changed or gone since it was read.
		b, err := loadBucket(ctx, q, t, p.Bucket, true)
		if err != nil {
			return err
		}
		if err := s.checkFits(b, o.ContentType, o.Size); err != nil {
			return err
		}
		// Again with the size read: a body without Content-Length was
		// authorized with object.size -1, and the rules may have changed.
		if err := s.authorize(w, b, opWrite, objectValues(o.Name, o.Size, o.ContentType, o.Metadata)); err != nil {
			return err
		}
		out, old, err = s.commit(ctx, q, t, b, o, limit, precondition{noneMatch: p.IfNoneMatch, match: p.IfMatch})
		return err
	})
	if err != nil {
		s.deleteBlobs(ctx, ref, []string{key})
		return nil, false, err
	}
	if old != nil {
		s.deleteBlobs(ctx, ref, []string{old.BlobKey})
	}
	return out, old == nil, nil
}

// limitReader passes at most n bytes of r to the hasher and the reader;
// one more is an error (over).
type limitReader struct {
	r    io.Reader
	n    int64
	h    hash.Hash
	read int64
	over bool
}

var errOverLimit = errors.New("storage: upload over its limit")

func (l *limitReader) Read(p []byte) (int, error) {
	if l.over {
		return 0, errOverLimit
	}
	if rem := l.n - l.read + 1; int64(len(p)) > rem {
		p = p[:rem]
	}
	n, err := l.r.Read(p)
	l.read += int64(n)
	if l.read > l.n {
		l.over = true
		return 0, errOverLimit
	}
	l.h.Write(p[:n])
	return n, err
}

// usage reads the project's stored bytes and objects.
func (s *Service) usage(ctx context.Context, ref string) (bytes, objects int64, err error) {
	err = s.tx(ctx, ref, func(q tenantdb.Querier, t tables) error {
		return q.QueryRow(ctx, `SELECT bytes, objects FROM `+t.usage+` WHERE id = 1`).Scan(&bytes, &objects)
	})
	return bytes, objects, err
}

// Usage is a project's storage use and limit.
type Usage struct{ Bytes, Objects, LimitBytes int64 }

// GetUsage returns the caller's project's usage; any key may read it.
func (s *Service) GetUsage(ctx context.Context) (Usage, error) {
	w, err := s.callerOf(ctx)
	if err != nil {
		return Usage{}, err
	}
	var u Usage
	if u.Bytes, u.Objects, err = s.usage(ctx, w.id.TenantRef); err != nil {
		return Usage{}, err
	}
	u.LimitBytes, err = s.quota(ctx, w.id.TenantRef)
	return u, err
}

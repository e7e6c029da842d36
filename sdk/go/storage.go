package sovereign

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"iter"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"

	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
)

// Storage limits and defaults the SDK works with. The platform enforces its
// own limits (see docs/storage.md); these are the SDK's side of them.
const (
	// ResumableThreshold is the size from which [BucketRef.Upload] uses a
	// resumable (tus) upload on its own: 8 MiB.
	ResumableThreshold = 8 << 20
	// ResumableChunkSize is the size of one chunk of a resumable upload:
	// 8 MiB. It is the most an upload holds in memory.
	ResumableChunkSize = 8 << 20
	// MaxDeleteBatch is the most names one DeleteObjects call takes;
	// [BucketRef.Delete] splits longer lists.
	MaxDeleteBatch = 1000
)

// ErrNotModified is what [BucketRef.Download] returns when
// [DownloadOptions].IfNoneMatch matches the object's current ETag: the copy
// the caller holds is current (HTTP 304).
var ErrNotModified = errors.New("sovereign: not modified")

// BucketRules are a bucket's access rules: expressions in the platform's
// expression language with auth (uid, role, aal, claims), request and object
// (name, size, content_type, metadata) in scope. An empty rule denies
// everyone but the service role (a secret key without a user token); a
// public bucket lets anyone read without a rule.
//
//	sovereign.BucketRules{Read: "true", Write: "auth.uid != '' && object.name.startsWith(auth.uid + '/')"}
type BucketRules struct {
	Read   string `json:"read,omitempty"`
	Write  string `json:"write,omitempty"`
	Delete string `json:"delete,omitempty"`
}

// Bucket is a project's container of objects, with its limits and rules.
type Bucket struct {
	// Name: 3 to 63 characters, lowercase letters, digits, '.', '_' and
	// '-', starting with a letter or digit.
	Name string `json:"name"`
	// Public buckets serve GET and HEAD to anyone, without an API key, at
	// /v1/storage/public/{ref}/{bucket}/{name}.
	Public bool `json:"public"`
	// MaxObjectBytes is the largest object the bucket takes; 0 means the
	// platform's limit.
	MaxObjectBytes int64 `json:"max_object_bytes"`
	// AllowedContentTypes are media types ("text/plain") or "type/*"
	// patterns; empty allows any.
	AllowedContentTypes []string    `json:"allowed_content_types"`
	Rules               BucketRules `json:"rules"`
	// ObjectCount and SizeBytes are set by the platform.
	ObjectCount int64 `json:"object_count"`
	SizeBytes   int64 `json:"size_bytes"`
	// CreatedAt and UpdatedAt are set by the platform.
	CreatedAt time.Time `json:"created_at,omitzero"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// BucketUpdate names the fields of a bucket to change: nil fields stay as
// they are.
type BucketUpdate struct {
	Public         *bool
	MaxObjectBytes *int64
	// AllowedContentTypes replaces the list; a pointer to an empty slice
	// allows any type.
	AllowedContentTypes *[]string
	// Rules replaces all three rules.
	Rules *BucketRules
}

// Object describes a stored object (its bytes travel separately).
type Object struct {
	Bucket string `json:"bucket"`
	// Name is the object's name in its bucket: 1 to 1024 bytes of UTF-8,
	// "/" separating folders by convention.
	Name        string `json:"name"`
	Size        int64  `json:"size"`
	ContentType string `json:"content_type,omitempty"`
	// ETag is the quoted strong entity tag the platform serves.
	ETag string `json:"etag,omitempty"`
	// SHA256 is the hex SHA-256 of the bytes.
	SHA256 string `json:"sha256,omitempty"`
	// Metadata is the object's custom metadata: lowercase keys of
	// [a-z0-9-], at most 32 entries and 8 KiB in all.
	Metadata  map[string]string `json:"metadata,omitempty"`
	CreatedAt time.Time         `json:"created_at,omitzero"`
	UpdatedAt time.Time         `json:"updated_at,omitzero"`
	// Prefix is true for a "folder" that [BucketRef.List] folded with a
	// delimiter: Name is the common prefix, ending with the delimiter,
	// and the other fields are empty.
	Prefix bool `json:"prefix,omitempty"`
}

// StorageUsage is what a project stores, against its plan's limit.
type StorageUsage struct {
	Bytes   int64 `json:"bytes"`
	Objects int64 `json:"objects"`
	// LimitBytes is the plan's storage limit; 0 means unlimited.
	LimitBytes int64 `json:"limit_bytes"`
}

// Storage manages a project's buckets and reaches their objects. Get it
// with [Client.Storage]. Bucket management, signed URLs and key rotation
// need the secret key and run as the service role even when a user is
// signed in; object calls ([BucketRef]) run as the caller (the signed-in
// user, if any) and obey the bucket's rules.
type Storage struct {
	c   *Client
	rpc dataplanev1connect.StorageServiceClient
}

// Storage returns the client's storage.
func (c *Client) Storage() *Storage {
	return &Storage{c: c, rpc: c.storage}
}

// CreateBucket makes a bucket and returns it as created.
//
// Errors: [CodeInvalidArgument] (a bad name, limit, content type or rule,
// naming it), [CodeAlreadyExists].
func (s *Storage) CreateBucket(ctx context.Context, b Bucket) (*Bucket, error) {
	res, err := unary(ctx, s.c.pub, dataplanev1connect.StorageServiceCreateBucketProcedure, callCreate,
		s.rpc.CreateBucket, &dataplanev1.CreateBucketRequest{Bucket: b.proto()})
	if err != nil {
		return nil, err
	}
	return bucketOf(res.GetBucket()), nil
}

// GetBucket describes a bucket. Errors: [CodeNotFound].
func (s *Storage) GetBucket(ctx context.Context, name string) (*Bucket, error) {
	res, err := unary(ctx, s.c.pub, dataplanev1connect.StorageServiceGetBucketProcedure, callRead,
		s.rpc.GetBucket, &dataplanev1.GetBucketRequest{Name: name})
	if err != nil {
		return nil, err
	}
	return bucketOf(res.GetBucket()), nil
}

// ListBuckets returns every bucket of the project, by name.
func (s *Storage) ListBuckets(ctx context.Context) ([]*Bucket, error) {
	res, err := unary(ctx, s.c.pub, dataplanev1connect.StorageServiceListBucketsProcedure, callRead,
		s.rpc.ListBuckets, &dataplanev1.ListBucketsRequest{})
	if err != nil {
		return nil, err
	}
	out := make([]*Bucket, 0, len(res.GetBuckets()))
	for _, b := range res.GetBuckets() {
		out = append(out, bucketOf(b))
	}
	return out, nil
}

// UpdateBucket changes the fields u sets and returns the bucket as stored.
// Setting the same fields twice leaves the same bucket, so it is retried
// like a read.
//
// Errors: [CodeInvalidArgument] (nothing to change, a bad value),
// [CodeNotFound].
func (s *Storage) UpdateBucket(ctx context.Context, name string, u BucketUpdate) (*Bucket, error) {
	b := &dataplanev1.Bucket{Name: name}
	var mask []string
	if u.Public != nil {
		b.Public = *u.Public
		mask = append(mask, "public")
	}
	if u.MaxObjectBytes != nil {
		b.MaxObjectBytes = *u.MaxObjectBytes
		mask = append(mask, "max_object_bytes")
	}
	if u.AllowedContentTypes != nil {
		b.AllowedContentTypes = *u.AllowedContentTypes
		mask = append(mask, "allowed_content_types")
	}
	if u.Rules != nil {
		b.Rules = u.Rules.proto()
		mask = append(mask, "rules")
	}
	if len(mask) == 0 {
		return nil, invalidArgument("update bucket %q: nothing to change", name)
	}
	res, err := unary(ctx, s.c.pub, dataplanev1connect.StorageServiceUpdateBucketProcedure, callIdempotent,
		s.rpc.UpdateBucket, &dataplanev1.UpdateBucketRequest{Bucket: b, UpdateMask: mask})
	if err != nil {
		return nil, err
	}
	return bucketOf(res.GetBucket()), nil
}

// DeleteBucket deletes a bucket and returns how many objects went with it.
// Without force a bucket that holds objects is refused.
//
// Errors: [CodeFailedPrecondition] (not empty, without force),
// [CodeNotFound].
func (s *Storage) DeleteBucket(ctx context.Context, name string, force bool) (int64, error) {
	res, err := unary(ctx, s.c.pub, dataplanev1connect.StorageServiceDeleteBucketProcedure, callOnce,
		s.rpc.DeleteBucket, &dataplanev1.DeleteBucketRequest{Name: name, Force: force})
	if err != nil {
		return 0, err
	}
	return res.GetDeletedObjects(), nil
}

// Usage reports what the project stores and its plan's limit.
func (s *Storage) Usage(ctx context.Context) (*StorageUsage, error) {
	res, err := unary(ctx, s.c.pub, dataplanev1connect.StorageServiceGetStorageUsageProcedure, callRead,
		s.rpc.GetStorageUsage, &dataplanev1.GetStorageUsageRequest{})
	if err != nil {
		return nil, err
	}
	return &StorageUsage{Bytes: res.GetBytes(), Objects: res.GetObjects(), LimitBytes: res.GetLimitBytes()}, nil
}

// RotateSigningKey makes a new key for signed URLs and returns its id.
// URLs signed with the old key stop working at once.
func (s *Storage) RotateSigningKey(ctx context.Context) (string, error) {
	res, err := unary(ctx, s.c.pub, dataplanev1connect.StorageServiceRotateStorageSigningKeyProcedure, callOnce,
		s.rpc.RotateStorageSigningKey, &dataplanev1.RotateStorageSigningKeyRequest{})
	if err != nil {
		return "", err
	}
	return res.GetKeyId(), nil
}

// Bucket returns a handle on the objects of the bucket called name. It
// makes no call: a bucket that does not exist shows as [CodeNotFound] on
// first use.
func (s *Storage) Bucket(name string) *BucketRef {
	return &BucketRef{s: s, name: name}
}

// BucketRef reaches the objects of one bucket. Its calls run as the client's
// caller: the signed-in user when there is one, else the API key's role.
// Get it with [Storage.Bucket].
type BucketRef struct {
	s    *Storage
	name string
}

// Name is the bucket's name.
func (b *BucketRef) Name() string { return b.name }

// UploadOptions tune [BucketRef.Upload]. The zero value (or nil) uploads
// with a sniffed content type and no metadata.
type UploadOptions struct {
	// ContentType of the object; empty lets the platform sniff it from the
	// first 512 bytes. It must fit the bucket's allowed types.
	ContentType string
	// Metadata is custom metadata: lowercase keys of [a-z0-9-], at most 32
	// entries and 8 KiB in all.
	Metadata map[string]string
	// SHA256 is the hex SHA-256 of the bytes; the platform refuses the
	// upload, keeping nothing, when the bytes do not match. When empty and
	// the reader is an io.ReadSeeker (an *os.File, say), the SDK reads it
	// once to compute it, then rewinds.
	SHA256 string
	// Size is the number of bytes r yields; 0 or -1 mean unknown, unless the
	// SDK can learn it from r (an *os.File, *bytes.Reader, *strings.Reader,
	// *bytes.Buffer or other io.Seeker). A known size lets the platform
	// refuse an upload over a limit before any byte is sent.
	Size int64
	// Progress, when set, is called as bytes are sent with the count so far
	// and the total (-1 when unknown). It is called from the uploading
	// goroutine and must not block for long.
	Progress func(sent, total int64)
	// Resumable sends the bytes through the resumable (tus) protocol, in
	// chunks of [ResumableChunkSize]: after a network failure the upload
	// resumes from the platform's offset, with backoff, up to the client's
	// retries ([WithRetries]) in a row. It is on by itself from
	// [ResumableThreshold] bytes, and needs a known size.
	Resumable bool
	// IfNoneMatch creates the object only: an existing one of the same
	// name is kept and the upload refused with [CodeFailedPrecondition].
	IfNoneMatch bool
}

// Upload stores the bytes of r as the object name and returns the object.
// It streams: the body is never held in memory whole (a resumable upload
// holds one chunk). A plain upload is one PUT; one of a known size of at
// least [ResumableThreshold] bytes, or with Resumable, goes through tus.
//
// Errors: [CodeInvalidArgument] (a bad name or metadata, a content type the
// bucket does not allow, a checksum that does not match),
// [CodeResourceExhausted] (over the bucket's size limit or the project's
// quota: nothing is stored), [CodeFailedPrecondition] (IfNoneMatch and the
// object exists), [CodePermissionDenied] (the bucket's write rule),
// [CodeNotFound] (no such bucket).
func (b *BucketRef) Upload(ctx context.Context, name string, r io.Reader, opts *UploadOptions) (*Object, error) {
	var o UploadOptions
	if opts != nil {
		o = *opts
	}
	if err := checkObjectName(name); err != nil {
		return nil, err
	}
	size, err := readerSize(r, o.Size)
	if err != nil {
		return nil, fmt.Errorf("upload %s: size of the reader: %w", name, err)
	}
	if o.SHA256 == "" {
		if rs, ok := r.(io.ReadSeeker); ok {
			if o.SHA256, err = hashSeeker(rs); err != nil {
				return nil, fmt.Errorf("upload %s: checksum: %w", name, err)
			}
		}
	}
	if o.Resumable || size >= ResumableThreshold {
		if size < 0 {
			return nil, invalidArgument("upload %s: a resumable upload needs the size (UploadOptions.Size)", name)
		}
		return b.uploadResumable(ctx, name, r, size, o)
	}
	return b.uploadPut(ctx, name, r, size, o)
}

// readerSize is the size given, else the one r can tell, else -1.
func readerSize(r io.Reader, given int64) (int64, error) {
	if given > 0 {
		return given, nil
	}
	switch v := r.(type) {
	case *bytes.Reader:
		return int64(v.Len()), nil
	case *strings.Reader:
		return int64(v.Len()), nil
	case *bytes.Buffer:
		return int64(v.Len()), nil
	case *os.File:
		fi, err := v.Stat()
		if err != nil {
			return 0, err
		}
		if !fi.Mode().IsRegular() {
			return -1, nil
		}
		pos, err := v.Seek(0, io.SeekCurrent)
		if err != nil {
			return 0, err
		}
		return fi.Size() - pos, nil
	case io.Seeker:
		pos, err := v.Seek(0, io.SeekCurrent)
		if err != nil {
			return 0, err
		}
		end, err := v.Seek(0, io.SeekEnd)
		if err != nil {
			return 0, err
		}
		if _, err := v.Seek(pos, io.SeekStart); err != nil {
			return 0, err
		}
		return end - pos, nil
	}
	return -1, nil
}

// hashSeeker reads rs to its end for its SHA-256 and seeks back.
func hashSeeker(rs io.ReadSeeker) (string, error) {
	if f, ok := rs.(*os.File); ok {
		if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
			return "", err // a pipe or device cannot be read twice
		}
	}
	pos, err := rs.Seek(0, io.SeekCurrent)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	if _, err := io.Copy(h, rs); err != nil {
		return "", err
	}
	if _, err := rs.Seek(pos, io.SeekStart); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// progressReader reports the bytes read through it.
type progressReader struct {
	r     io.Reader
	sent  int64
	total int64
	f     func(sent, total int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.sent += int64(n)
		p.f(p.sent, p.total)
	}
	return n, err
}

func (b *BucketRef) uploadPut(ctx context.Context, name string, r io.Reader, size int64, o UploadOptions) (*Object, error) {
	body := r
	if o.Progress != nil {
		body = &progressReader{r: r, total: size, f: o.Progress}
	}
	var rc io.ReadCloser = io.NopCloser(body)
	if size == 0 {
		rc = http.NoBody
	}
	req, err := b.s.c.newStorageRequest(ctx, b.s.c.c, http.MethodPut, objectPath(b.name, name), rc)
	if err != nil {
		return nil, err
	}
	if size > 0 {
		req.ContentLength = size
	}
	setUploadHeaders(req.Header, o)
	resp, err := b.s.c.doStorage(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return decodeObject(resp)
}

func setUploadHeaders(h http.Header, o UploadOptions) {
	if o.ContentType != "" {
		h.Set("Content-Type", o.ContentType)
	}
	if o.SHA256 != "" {
		h.Set("X-Checksum-SHA256", o.SHA256)
	}
	for k, v := range o.Metadata {
		h.Set("X-Meta-"+k, v)
	}
	if o.IfNoneMatch {
		h.Set("If-None-Match", "*")
	}
}

// uploadResumable sends the bytes through tus, then reads the object made.
func (b *BucketRef) uploadResumable(ctx context.Context, name string, r io.Reader, size int64, o UploadOptions) (*Object, error) {
	if o.IfNoneMatch {
		// The tus creation carries no precondition: check first, as well
		// as one can without a lock.
		if _, err := b.Stat(ctx, name); err == nil {
			return nil, &Error{Code: CodeFailedPrecondition, Message: fmt.Sprintf("object %q exists in bucket %q", name, b.name)}
		} else if !IsNotFound(err) {
			return nil, err
		}
	}
	meta := map[string]string{"bucket": b.name, "name": name}
	if o.ContentType != "" {
		meta["content_type"] = o.ContentType
	}
	if o.SHA256 != "" {
		meta["sha256"] = o.SHA256
	}
	for k, v := range o.Metadata {
		meta["meta-"+k] = v
	}
	t := &tusClient{c: b.s.c, caller: b.s.c.c, endpoint: b.s.c.baseURL + tusPath}
	if err := t.upload(ctx, r, size, meta, ResumableChunkSize, o.Progress); err != nil {
		return nil, err
	}
	// The object is recorded when the last byte arrives; a Stat that races
	// a slow commit is tried again a few times.
	var (
		obj *Object
		err error
	)
	for attempt := 0; attempt < 5; attempt++ {
		if obj, err = b.Stat(ctx, name); err == nil || !IsNotFound(err) {
			return obj, err
		}
		if werr := storageSleep(ctx, b.s.c.c.backoff(attempt)); werr != nil {
			return nil, err
		}
	}
	return nil, err
}

// DownloadOptions tune [BucketRef.Download].
type DownloadOptions struct {
	// Offset and Length select a byte range: Length 0 reads from Offset to
	// the end. A range past the end is [CodeOutOfRange].
	Offset, Length int64
	// IfNoneMatch is an ETag the caller holds; when it is still the
	// object's, Download returns [ErrNotModified] and no body.
	IfNoneMatch string
}

// Download opens the object's bytes. The caller must close the reader. A
// whole-object download checks the bytes against the object's SHA-256 and
// fails at the end of the stream when they differ.
//
// Errors: [CodeNotFound] (no such bucket or object, or the read rule hides
// it), [CodeOutOfRange] (an unsatisfiable range), [ErrNotModified].
func (b *BucketRef) Download(ctx context.Context, name string, opts *DownloadOptions) (io.ReadCloser, *Object, error) {
	var o DownloadOptions
	if opts != nil {
		o = *opts
	}
	if err := checkObjectName(name); err != nil {
		return nil, nil, err
	}
	if o.Offset < 0 || o.Length < 0 {
		return nil, nil, invalidArgument("download %s: negative range", name)
	}
	req, err := b.s.c.newStorageRequest(ctx, b.s.c.c, http.MethodGet, objectPath(b.name, name), nil)
	if err != nil {
		return nil, nil, err
	}
	ranged := o.Offset > 0 || o.Length > 0
	switch {
	case o.Length > 0:
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", o.Offset, o.Offset+o.Length-1))
	case o.Offset > 0:
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", o.Offset))
	}
	if o.IfNoneMatch != "" {
		req.Header.Set("If-None-Match", o.IfNoneMatch)
	}
	resp, err := b.s.c.doStorage(req)
	if err != nil {
		return nil, nil, err
	}
	obj := objectFromHeaders(b.name, name, resp)
	if resp.StatusCode == http.StatusNotModified {
		resp.Body.Close()
		return nil, obj, ErrNotModified
	}
	if !ranged && obj.SHA256 != "" {
		return &verifyReader{rc: resp.Body, h: sha256.New(), want: obj.SHA256, name: name}, obj, nil
	}
	return resp.Body, obj, nil
}

// verifyReader checks a download's bytes against their SHA-256 at EOF.
type verifyReader struct {
	rc   io.ReadCloser
	h    hash.Hash
	want string
	name string
}

func (v *verifyReader) Read(p []byte) (int, error) {
	n, err := v.rc.Read(p)
	v.h.Write(p[:n])
	if err == io.EOF {
		if got := hex.EncodeToString(v.h.Sum(nil)); !strings.EqualFold(got, v.want) {
			return n, &Error{Code: connect.CodeDataLoss,
				Message: fmt.Sprintf("download %s: the bytes' SHA-256 is %s, the object's is %s", v.name, got, v.want)}
		}
	}
	return n, err
}

func (v *verifyReader) Close() error { return v.rc.Close() }

// objectFromHeaders reads what a download's headers say of the object.
func objectFromHeaders(bucket, name string, resp *http.Response) *Object {
	h := resp.Header
	o := &Object{Bucket: bucket, Name: name, ContentType: h.Get("Content-Type"), ETag: h.Get("ETag"),
		SHA256: h.Get("X-Checksum-SHA256"), Size: resp.ContentLength}
	if cr := h.Get("Content-Range"); cr != "" {
		if _, total, ok := strings.Cut(cr, "/"); ok {
			if n, err := strconv.ParseInt(total, 10, 64); err == nil {
				o.Size = n
			}
		}
	}
	if t, err := http.ParseTime(h.Get("Last-Modified")); err == nil {
		o.UpdatedAt = t
	}
	for k, v := range h {
		if rest, ok := strings.CutPrefix(k, "X-Meta-"); ok && len(v) > 0 {
			if o.Metadata == nil {
				o.Metadata = map[string]string{}
			}
			o.Metadata[strings.ToLower(rest)] = v[0]
		}
	}
	return o
}

// Stat describes an object. Errors: [CodeNotFound].
func (b *BucketRef) Stat(ctx context.Context, name string) (*Object, error) {
	if err := checkObjectName(name); err != nil {
		return nil, err
	}
	res, err := unary(ctx, b.s.c.c, dataplanev1connect.StorageServiceStatObjectProcedure, callRead,
		b.s.rpc.StatObject, &dataplanev1.StatObjectRequest{Bucket: b.name, Name: name})
	if err != nil {
		return nil, err
	}
	return objectOf(res.GetObject()), nil
}

// ListOptions select what [BucketRef.List] returns.
type ListOptions struct {
	// Prefix keeps the objects whose names start with it.
	Prefix string
	// Delimiter is "" (every object under Prefix) or "/": names with a "/"
	// past the prefix fold into one [Object] with Prefix set per folder.
	Delimiter string
	// PageSize is how many objects one call fetches: 1 to 1000; 0 means
	// 100.
	PageSize int
}

// List iterates over the bucket's objects by name, fetching pages as the
// loop needs them; with a delimiter, folders come as objects with Prefix
// set, in name order among the objects.
func (b *BucketRef) List(ctx context.Context, opts ListOptions) iter.Seq2[*Object, error] {
	return pages(ctx, func(ctx context.Context, token string) ([]*Object, string, error) {
		res, err := unary(ctx, b.s.c.c, dataplanev1connect.StorageServiceListObjectsProcedure, callRead, b.s.rpc.ListObjects,
			&dataplanev1.ListObjectsRequest{Bucket: b.name, Prefix: opts.Prefix, Delimiter: opts.Delimiter,
				PageSize: int32(min(max(opts.PageSize, 0), 1000)), PageToken: token})
		if err != nil {
			return nil, "", err
		}
		out := make([]*Object, 0, len(res.GetObjects())+len(res.GetPrefixes()))
		for _, o := range res.GetObjects() {
			out = append(out, objectOf(o))
		}
		for _, p := range res.GetPrefixes() {
			out = append(out, &Object{Bucket: b.name, Name: p, Prefix: true})
		}
		slices.SortStableFunc(out, func(x, y *Object) int { return strings.Compare(x.Name, y.Name) })
		return out, res.GetNextPageToken(), nil
	})
}

// Delete deletes the named objects, in calls of at most [MaxDeleteBatch]
// names, and returns the names that did not exist (not an error).
//
// Errors: [CodeInvalidArgument] (a bad name), [CodePermissionDenied] (the
// bucket's delete rule), [CodeNotFound] (no such bucket).
func (b *BucketRef) Delete(ctx context.Context, names ...string) (notFound []string, err error) {
	if err := checkObjectNames(names...); err != nil {
		return nil, err
	}
	for batch := range slices.Chunk(names, MaxDeleteBatch) {
		res, err := unary(ctx, b.s.c.c, dataplanev1connect.StorageServiceDeleteObjectsProcedure, callIdempotent,
			b.s.rpc.DeleteObjects, &dataplanev1.DeleteObjectsRequest{Bucket: b.name, Names: batch})
		if err != nil {
			return notFound, err
		}
		notFound = append(notFound, res.GetNotFound()...)
	}
	return notFound, nil
}

// Copy copies the object name to dstBucket/dstName ("" keeps the bucket)
// and returns the copy. The destination bucket's limits, types and quota
// apply. Errors: [CodeNotFound], [CodeResourceExhausted].
func (b *BucketRef) Copy(ctx context.Context, name, dstBucket, dstName string) (*Object, error) {
	if err := checkObjectNames(name, dstName); err != nil {
		return nil, err
	}
	res, err := unary(ctx, b.s.c.c, dataplanev1connect.StorageServiceCopyObjectProcedure, callIdempotent, b.s.rpc.CopyObject,
		&dataplanev1.CopyObjectRequest{Bucket: b.name, Name: name, DestinationBucket: cmp.Or(dstBucket, b.name), DestinationName: dstName})
	if err != nil {
		return nil, err
	}
	return objectOf(res.GetObject()), nil
}

// Move renames the object name to dstBucket/dstName ("" keeps the bucket)
// and returns it under its new name. Errors: [CodeNotFound].
func (b *BucketRef) Move(ctx context.Context, name, dstBucket, dstName string) (*Object, error) {
	if err := checkObjectNames(name, dstName); err != nil {
		return nil, err
	}
	res, err := unary(ctx, b.s.c.c, dataplanev1connect.StorageServiceMoveObjectProcedure, callOnce, b.s.rpc.MoveObject,
		&dataplanev1.MoveObjectRequest{Bucket: b.name, Name: name, DestinationBucket: cmp.Or(dstBucket, b.name), DestinationName: dstName})
	if err != nil {
		return nil, err
	}
	return objectOf(res.GetObject()), nil
}

// SetMetadata replaces the object's custom metadata with md (nil clears
// it). Errors: [CodeInvalidArgument] (a bad key or too much), [CodeNotFound].
func (b *BucketRef) SetMetadata(ctx context.Context, name string, md map[string]string) (*Object, error) {
	if err := checkObjectName(name); err != nil {
		return nil, err
	}
	res, err := unary(ctx, b.s.c.c, dataplanev1connect.StorageServiceUpdateObjectMetadataProcedure, callIdempotent,
		b.s.rpc.UpdateObjectMetadata, &dataplanev1.UpdateObjectMetadataRequest{Bucket: b.name, Name: name, Metadata: md})
	if err != nil {
		return nil, err
	}
	return objectOf(res.GetObject()), nil
}

// SignedURL returns an absolute URL that lets anyone holding it download
// (method "GET", also HEAD) or upload (method "PUT") the object name without
// an API key until the returned time; expiry is 1 s to 7 days, 0 meaning
// one hour. It needs the secret key. Rotating the signing key
// ([Storage.RotateSigningKey]) voids every URL signed before.
func (b *BucketRef) SignedURL(ctx context.Context, name, method string, expiry time.Duration) (string, time.Time, error) {
	if err := checkObjectName(name); err != nil {
		return "", time.Time{}, err
	}
	method = strings.ToUpper(method)
	if method != http.MethodGet && method != http.MethodPut {
		return "", time.Time{}, invalidArgument("signed URL: method %q: want GET or PUT", method)
	}
	if expiry < 0 {
		return "", time.Time{}, invalidArgument("signed URL: negative expiry %s", expiry)
	}
	secs := int64(expiry / time.Second)
	if expiry > 0 && secs == 0 {
		secs = 1
	}
	res, err := unary(ctx, b.s.c.pub, dataplanev1connect.StorageServiceCreateSignedURLProcedure, callOnce, b.s.rpc.CreateSignedURL,
		&dataplanev1.CreateSignedURLRequest{Bucket: b.name, Name: name, Method: method, ExpiresInSeconds: secs})
	if err != nil {
		return "", time.Time{}, err
	}
	u := res.GetUrl()
	if strings.HasPrefix(u, "/") {
		u = b.s.c.baseURL + u
	}
	return u, res.GetExpiresAt().AsTime(), nil
}

// PublicURL is the address anyone can GET the object at, without a key,
// when the bucket is public; ref is the project's ref.
func (b *BucketRef) PublicURL(ref, name string) string {
	return b.s.c.baseURL + "/v1/storage/public/" + url.PathEscape(ref) + "/" + url.PathEscape(b.name) + "/" + escapeName(name)
}

// MaxObjectNameBytes is the longest object name: 1024 bytes of UTF-8.
const MaxObjectNameBytes = 1024

// checkObjectName refuses, before sending anything, the names the platform
// refuses (InvalidArgument) and that a URL path could not carry as they
// are: empty or over [MaxObjectNameBytes], invalid UTF-8, control
// characters, a backslash, a leading "/", a "." or ".." segment.
func checkObjectName(name string) error {
	switch {
	case name == "":
		return invalidArgument("object name is empty")
	case len(name) > MaxObjectNameBytes:
		return invalidArgument("object name is %d bytes long; the limit is %d", len(name), MaxObjectNameBytes)
	case !utf8.ValidString(name):
		return invalidArgument("object name %q is not valid UTF-8", name)
	case strings.HasPrefix(name, "/"):
		return invalidArgument("object name %q starts with /: names are relative to their bucket", name)
	case strings.Contains(name, "\\"):
		return invalidArgument("object name %q contains a backslash", name)
	}
	for i, r := range name {
		if r < 0x20 || r == 0x7f {
			return invalidArgument("object name %q has a control character at byte %d", name, i)
		}
	}
	for seg := range strings.SplitSeq(name, "/") {
		if seg == "." || seg == ".." {
			return invalidArgument("object name %q has a %q segment", name, seg)
		}
	}
	return nil
}

func checkObjectNames(names ...string) error {
	for _, n := range names {
		if err := checkObjectName(n); err != nil {
			return err
		}
	}
	return nil
}

// objectPath is the REST path of an object.
func objectPath(bucket, name string) string {
	return "/v1/storage/objects/" + url.PathEscape(bucket) + "/" + escapeName(name)
}

// escapeName escapes an object name for a URL path, keeping its slashes.
func escapeName(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

// newStorageRequest makes a REST request of the data plane with the
// credentials of c.
func (c *Client) newStorageRequest(ctx context.Context, cl *caller, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.baseURL+path, body)
	if err != nil {
		return nil, invalidArgument("%s %s: %v", method, path, err)
	}
	if _, err := cl.setHeaders(ctx, req.Header); err != nil {
		return nil, err
	}
	return req, nil
}

// transferClient is the client's HTTP client without its overall timeout:
// a transfer of a large object takes as long as it takes, bounded by the
// caller's context.
func (c *Client) transferClient() *http.Client {
	hc := c.pub.opts.client()
	hc.Timeout = 0
	return hc
}

// doStorage sends a REST request and turns an error answer into an *Error.
// Answers 2xx and 304 are returned with their body open.
func (c *Client) doStorage(req *http.Request) (*http.Response, error) {
	resp, err := c.transferClient().Do(req)
	procedure := req.Method + " " + req.URL.Path
	if err != nil {
		if ctxErr := req.Context().Err(); ctxErr != nil {
			return nil, &Error{Code: connect.CodeOf(ctxErr), Message: ctxErr.Error(), Procedure: procedure, err: err}
		}
		return nil, &Error{Code: CodeUnavailable, Message: err.Error(), Procedure: procedure, err: err}
	}
	if resp.StatusCode/100 == 2 || resp.StatusCode == http.StatusNotModified {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, restError(procedure, resp)
}

// restError reads the data plane's JSON error ({"code": …, "message": …}),
// or makes one of the HTTP status when the body is something else.
func restError(procedure string, resp *http.Response) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	e := &Error{Code: storageStatusCode(resp.StatusCode), Procedure: procedure}
	if json.Unmarshal(raw, &body) == nil && body.Code != "" {
		var code connect.Code
		if code.UnmarshalText([]byte(body.Code)) == nil {
			e.Code = code
		}
		e.Message = body.Message
	}
	if e.Message == "" {
		e.Message = strings.TrimSpace(string(raw))
	}
	if e.Message == "" {
		e.Message = resp.Status
	}
	e.err = connect.NewError(e.Code, errors.New(e.Message))
	return e
}

// storageStatusCode is the Connect code of an HTTP status, for answers that
// carry no code of their own.
func storageStatusCode(status int) Code {
	switch status {
	case http.StatusBadRequest:
		return CodeInvalidArgument
	case http.StatusUnauthorized:
		return CodeUnauthenticated
	case http.StatusForbidden:
		return CodePermissionDenied
	case http.StatusNotFound, http.StatusGone:
		return CodeNotFound
	case http.StatusConflict:
		return CodeAborted
	case http.StatusPreconditionFailed:
		return CodeFailedPrecondition
	case http.StatusRequestEntityTooLarge, http.StatusTooManyRequests:
		return CodeResourceExhausted
	case http.StatusRequestedRangeNotSatisfiable:
		return connect.CodeOutOfRange
	case http.StatusNotImplemented, http.StatusMethodNotAllowed:
		return CodeUnimplemented
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return CodeUnavailable
	case 499:
		return CodeCanceled
	case tusChecksumMismatch:
		return CodeInvalidArgument
	}
	return connect.CodeUnknown
}

// decodeObject reads a REST answer {"object": {…}}.
func decodeObject(resp *http.Response) (*Object, error) {
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, &Error{Code: CodeUnavailable, Message: "reading the answer: " + err.Error(), err: err}
	}
	var m dataplanev1.StatObjectResponse
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(raw, &m); err != nil {
		return nil, &Error{Code: connect.CodeInternal, Message: "the platform's answer is not an object: " + err.Error(), err: err}
	}
	return objectOf(m.GetObject()), nil
}

func storageSleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (r BucketRules) proto() *dataplanev1.BucketRules {
	return &dataplanev1.BucketRules{Read: r.Read, Write: r.Write, Delete: r.Delete}
}

func (b Bucket) proto() *dataplanev1.Bucket {
	return &dataplanev1.Bucket{Name: b.Name, Public: b.Public, MaxObjectBytes: b.MaxObjectBytes,
		AllowedContentTypes: b.AllowedContentTypes, Rules: b.Rules.proto()}
}

func bucketOf(m *dataplanev1.Bucket) *Bucket {
	if m == nil {
		return nil
	}
	return &Bucket{Name: m.GetName(), Public: m.GetPublic(), MaxObjectBytes: m.GetMaxObjectBytes(),
		AllowedContentTypes: m.GetAllowedContentTypes(),
		Rules:               BucketRules{Read: m.GetRules().GetRead(), Write: m.GetRules().GetWrite(), Delete: m.GetRules().GetDelete()},
		ObjectCount:         m.GetObjectCount(), SizeBytes: m.GetSizeBytes(),
		CreatedAt: timeOf(m.GetCreatedAt()), UpdatedAt: timeOf(m.GetUpdatedAt())}
}

func objectOf(m *dataplanev1.Object) *Object {
	if m == nil {
		return nil
	}
	return &Object{Bucket: m.GetBucket(), Name: m.GetName(), Size: m.GetSize(), ContentType: m.GetContentType(),
		ETag: m.GetEtag(), SHA256: m.GetSha256(), Metadata: m.GetMetadata(),
		CreatedAt: timeOf(m.GetCreatedAt()), UpdatedAt: timeOf(m.GetUpdatedAt())}
}

// Package blob stores the bytes of a project's files: on local disk under
// the data directory (every path opened through an os.Root per tenant, so
// no key can reach outside it), or in any S3-compatible object store (one
// bucket, a prefix per tenant). Metadata (names, sizes, checksums, rules)
// lives in PostgreSQL, in package storage; a blob key is an opaque name the
// storage service makes, never a user's file name.
//
// Both backends pass the same conformance suite (package blobtest); bytes
// are streamed, never held whole in memory.
package blob

import (
	"context"
	"errors"
	"io"
	"regexp"
)

// Errors the backends return (wrapped); callers test with errors.Is.
var (
	// ErrNotFound: no blob has that key.
	ErrNotFound = errors.New("blob: not found")
	// ErrInvalidKey: the key is not a valid blob key (see ValidKey).
	ErrInvalidKey = errors.New("blob: invalid key")
	// ErrInvalidRange: the range starts past the end of the blob.
	ErrInvalidRange = errors.New("blob: range not satisfiable")
)

// keyPattern is what a blob key looks like: slash-separated segments of
// letters, digits, '-', '_' and '.', none of them "." or "..", at most 512
// bytes. The storage service makes keys like "<bucket-id>/<object-id>".
var keyPattern = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$`)

// MaxKeyLen is the longest key, in bytes.
const MaxKeyLen = 512

// ValidKey reports whether key is a well-formed blob key. Backends refuse
// others with ErrInvalidKey; the local backend's os.Root is the second wall.
func ValidKey(key string) bool {
	return len(key) <= MaxKeyLen && keyPattern.MatchString(key)
}

// Info describes a stored blob.
type Info struct {
	Key  string
	Size int64
}

// Backend stores blobs for tenants. ref is the tenant's ref (4 to 32
// lowercase letters and digits); each tenant's blobs are apart from every
// other's. All methods are safe for concurrent use.
type Backend interface {
	// Put stores the bytes of r under key, replacing any blob there only
	// once all of r has been read: a Put that fails (r errors, ctx ends)
	// leaves no blob and no partial bytes behind, and the previous blob, if
	// any, untouched. size is the length of r when known, or -1.
	Put(ctx context.Context, ref, key string, r io.Reader, size int64) (Info, error)
	// Get returns the bytes of the blob from offset, length bytes of them
	// (or to the end when length < 0). ErrNotFound when there is none;
	// ErrInvalidRange when offset is past the end.
	Get(ctx context.Context, ref, key string, offset, length int64) (io.ReadCloser, error)
	// Stat returns the blob's size, or ErrNotFound.
	Stat(ctx context.Context, ref, key string) (Info, error)
	// Copy copies src to dst (same tenant), without the bytes passing
	// through this process where the backend allows it.
	Copy(ctx context.Context, ref, src, dst string) (Info, error)
	// Delete removes the blob; a missing one is not an error.
	Delete(ctx context.Context, ref, key string) error
	// List calls fn for each blob of the tenant whose key starts with
	// prefix, in key order, until fn returns false or an error occurs.
	List(ctx context.Context, ref, prefix string, fn func(Info) bool) error
	// DeleteTenant removes every blob of the tenant.
	DeleteTenant(ctx context.Context, ref string) error
	// Name is "local" or "s3", for logs and status.
	Name() string
}

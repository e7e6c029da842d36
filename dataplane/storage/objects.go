package storage

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
)

// List and batch limits.
const (
	// DefaultPageSize is ListObjects' page size when none is asked.
	DefaultPageSize = 100
	// MaxPageSize is the largest page of ListObjects.
	MaxPageSize = 1000
	// MaxDeleteNames is the most names one DeleteObjects takes.
	MaxDeleteNames = 1000
)

// Object is a stored object's metadata.
type Object struct {
	ID, Bucket, Name, BlobKey, ContentType, SHA256, ETag string
	Size                                                 int64
	Metadata                                             map[string]string
	CreatedAt, UpdatedAt                                 time.Time
	// ref is the tenant the object was read for.
	ref string
}

func (o *Object) refOf() string { return o.ref }

// Proto is the object as the API returns it.
func (o *Object) Proto() *dataplanev1.Object {
	return &dataplanev1.Object{Bucket: o.Bucket, Name: o.Name, Size: o.Size, ContentType: o.ContentType, Etag: o.ETag,
		Sha256: o.SHA256, Metadata: o.Metadata, CreatedAt: timestamppb.New(o.CreatedAt), UpdatedAt: timestamppb.New(o.UpdatedAt)}
}

func (o *Object) values() map[string]any {
	return objectValues(o.Name, o.Size, o.ContentType, o.Metadata)
}

const objectColumns = `id::text, name, blob_key, size, content_type, sha256, etag, metadata, created_at, updated_at`

func scanObject(row pgx.Row, bucket string) (*Object, error) {
	o := &Object{Bucket: bucket}
	if err := row.Scan(&o.ID, &o.Name, &o.BlobKey, &o.Size, &o.ContentType, &o.SHA256, &o.ETag, &o.Metadata, &o.CreatedAt, &o.UpdatedAt); err != nil {
		return nil, err
	}
	return o, nil
}

func objectNotFound(bucket, name string) error {
	return connect.NewError(connect.CodeNotFound, fmt.Errorf("object %q not found in bucket %q", name, bucket))
}

// loadObject reads an object of b, locking its row FOR UPDATE when lock is
// set. NotFound when missing.
func loadObject(ctx context.Context, q tenantdb.Querier, t tables, b *bucketRow, name string, lock bool) (*Object, error) {
	sql := `SELECT ` + objectColumns + ` FROM ` + t.objects + ` WHERE bucket_id = $1 AND name = $2`
	if lock {
		sql += ` FOR UPDATE`
	}
	o, err := scanObject(q.QueryRow(ctx, sql, b.id, name), b.name)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, objectNotFound(b.name, name)
	}
	if err != nil {
		return nil, fmt.Errorf("read object: %w", err)
	}
	return o, nil
}

// objectFor reads an object w may read: the bucket's read rule applies.
// A denied read of a public-less bucket by someone without a rule is
// PermissionDenied; a missing object NotFound.
func (s *Service) objectFor(ctx context.Context, w who, bucket, name string, publicOnly bool) (*Object, error) {
	if err := CheckObjectName(name); err != nil {
		return nil, err
	}
	var o *Object
	err := s.tx(ctx, w.id.TenantRef, func(q tenantdb.Querier, t tables) error {
		b, err := loadBucket(ctx, q, t, bucket, false)
		if err != nil {
			return err
		}
		if publicOnly && !b.public {
			return bucketNotFound(bucket)
		}
		o, err = loadObject(ctx, q, t, b, name, false)
		if err != nil {
			return err
		}
		o.ref = w.id.TenantRef
		return s.authorize(w, b, opRead, o.values())
	})
	return o, err
}

// StatObject returns an object's metadata, if the caller may read it.
func (s *Service) StatObject(ctx context.Context, bucket, name string) (*Object, error) {
	w, err := s.callerOf(ctx)
	if err != nil {
		return nil, err
	}
	return s.objectFor(ctx, w, bucket, name, false)
}

// ListResult is a page of ListObjects.
type ListResult struct {
	Objects       []*Object
	Prefixes      []string
	NextPageToken string
}

// ListObjects pages through a bucket's objects by name (byte order) under
// prefix. With delimiter "/" names past the prefix's next "/" fold into
// Prefixes. Callers other than the service role see only the objects the
// read rule allows (the rule compiled to SQL); a public bucket lists to
// anyone.
func (s *Service) ListObjects(ctx context.Context, bucket, prefix, delimiter string, pageSize int32, token string) (*ListResult, error) {
	w, err := s.callerOf(ctx)
	if err != nil {
		return nil, err
	}
	if delimiter != "" && delimiter != "/" {
		return nil, invalidf("delimiter must be \"\" or \"/\", not %q", delimiter)
	}
	switch {
	case pageSize == 0:
		pageSize = DefaultPageSize
	case pageSize < 0 || pageSize > MaxPageSize:
		return nil, invalidf("page_size must be 1 to %d, not %d", MaxPageSize, pageSize)
	}
	if len(prefix) > MaxNameLen {
		return nil, invalidf("prefix is longer than %d bytes", MaxNameLen)
	}
	after := ""
	if token != "" {
		raw, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil || !strings.HasPrefix(string(raw), prefix) {
			return nil, invalidf("page_token is not one this listing returned")
		}
		after = string(raw)
	}
	res := &ListResult{}
	err = s.tx(ctx, w.id.TenantRef, func(q tenantdb.Querier, t tables) error {
		b, err := loadBucket(ctx, q, t, bucket, false)
		if err != nil {
			return err
		}
		sql := `SELECT ` + objectColumns + ` FROM ` + t.objects + ` WHERE bucket_id = $1 AND starts_with(name, $2) AND name > $3`
		args := []any{b.id, prefix, after}
		if !w.service() && !b.public {
			br, err := s.rulesOf(w.id.TenantRef, b)
			if err != nil {
				return err
			}
			if br.read == nil {
				return s.authorize(w, b, opRead, nil)
			}
			c := br.read.SQL(len(args), w.auth)
			sql += ` AND (` + c.SQL + `)`
			args = append(args, c.Args...)
		}
		sql += ` ORDER BY name LIMIT ` + fmt.Sprint(int(pageSize)+1)
		for {
			rows, err := q.Query(ctx, sql, args...)
			if err != nil {
				return fmt.Errorf("list objects: %w", err)
			}
			var page []*Object
			for rows.Next() {
				o, err := scanObject(rows, b.name)
				if err != nil {
					rows.Close()
					return fmt.Errorf("list objects: %w", err)
				}
				page = append(page, o)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("list objects: %w", err)
			}
			more := len(page) > int(pageSize)
			if more {
				page = page[:pageSize]
			}
			if delimiter == "" {
				res.Objects = page
				if more {
					res.NextPageToken = base64.RawURLEncoding.EncodeToString([]byte(page[len(page)-1].Name))
				}
				return nil
			}
			// Fold names under a "/" past the prefix into one prefix, and
			// query again from past that prefix; the page holds at most
			// pageSize entries, objects and prefixes together.
			folded := false
			for _, o := range page {
				if len(res.Objects)+len(res.Prefixes) >= int(pageSize) {
					res.NextPageToken = base64.RawURLEncoding.EncodeToString([]byte(args[2].(string)))
					return nil
				}
				rest := o.Name[len(prefix):]
				if i := strings.Index(rest, "/"); i >= 0 {
					p := prefix + rest[:i+1]
					if n := len(res.Prefixes); n == 0 || res.Prefixes[n-1] != p {
						res.Prefixes = append(res.Prefixes, p)
					}
					// Every name starting with p sorts before p+"\U0010FFFF"
					// (in byte order, which the name column's collation is).
					args[2] = p + "\U0010FFFF"
					folded = true
					break
				}
				res.Objects = append(res.Objects, o)
				args[2] = o.Name
			}
			if !folded && !more {
				return nil
			}
			if len(res.Objects)+len(res.Prefixes) >= int(pageSize) {
				res.NextPageToken = base64.RawURLEncoding.EncodeToString([]byte(args[2].(string)))
				return nil
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// DeleteObjects deletes names from a bucket in one transaction; missing
// names are reported in notFound. A name the delete rule refuses fails the
// whole call with PermissionDenied.
func (s *Service) DeleteObjects(ctx context.Context, bucket string, names []string) (deleted, notFound []string, err error) {
	w, err := s.callerOf(ctx)
	if err != nil {
		return nil, nil, err
	}
	if len(names) == 0 || len(names) > MaxDeleteNames {
		return nil, nil, invalidf("names: give 1 to %d names, not %d", MaxDeleteNames, len(names))
	}
	for _, n := range names {
		if err := CheckObjectName(n); err != nil {
			return nil, nil, err
		}
	}
	var keys []string
	err = s.tx(ctx, w.id.TenantRef, func(q tenantdb.Querier, t tables) error {
		b, err := loadBucket(ctx, q, t, bucket, true)
		if err != nil {
			return err
		}
		if err := lockUsage(ctx, q, t); err != nil {
			return err
		}
		var bytes int64
		for _, n := range names {
			o, err := loadObject(ctx, q, t, b, n, true)
			if connect.CodeOf(err) == connect.CodeNotFound {
				notFound = append(notFound, n)
				continue
			}
			if err != nil {
				return err
			}
			if err := s.authorize(w, b, opDelete, o.values()); err != nil {
				return err
			}
			if _, err := q.Exec(ctx, `DELETE FROM `+t.objects+` WHERE id = $1`, o.ID); err != nil {
				return fmt.Errorf("delete object: %w", err)
			}
			deleted, keys, bytes = append(deleted, n), append(keys, o.BlobKey), bytes+o.Size
		}
		_, err = q.Exec(ctx, `UPDATE `+t.usage+` SET bytes = bytes - $1, objects = objects - $2 WHERE id = 1`, bytes, len(deleted))
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	s.deleteBlobs(ctx, w.id.TenantRef, keys)
	return deleted, notFound, nil
}

// DeleteObject deletes one object; NotFound when it is missing.
func (s *Service) DeleteObject(ctx context.Context, bucket, name string) error {
	_, missing, err := s.DeleteObjects(ctx, bucket, []string{name})
	if err == nil && len(missing) > 0 {
		return objectNotFound(bucket, name)
	}
	return err
}

// UpdateObjectMetadata replaces an object's custom metadata; the write
// rule must allow the object with its new metadata.
func (s *Service) UpdateObjectMetadata(ctx context.Context, bucket, name string, md map[string]string) (*Object, error) {
	w, err := s.callerOf(ctx)
	if err != nil {
		return nil, err
	}
	if err := CheckObjectName(name); err != nil {
		return nil, err
	}
	if err := CheckMetadata(md); err != nil {
		return nil, err
	}
	if md == nil {
		md = map[string]string{}
	}
	var out *Object
	err = s.tx(ctx, w.id.TenantRef, func(q tenantdb.Querier, t tables) error {
		b, err := loadBucket(ctx, q, t, bucket, false)
		if err != nil {
			return err
		}
		o, err := loadObject(ctx, q, t, b, name, true)
		if err != nil {
			return err
		}
		if err := s.authorize(w, b, opWrite, objectValues(o.Name, o.Size, o.ContentType, md)); err != nil {
			return err
		}
		if _, err := q.Exec(ctx, `UPDATE `+t.objects+` SET metadata = $2, version = version + 1, updated_at = clock_timestamp() WHERE id = $1`, o.ID, md); err != nil {
			return fmt.Errorf("update metadata: %w", err)
		}
		out, err = loadObject(ctx, q, t, b, name, false)
		return err
	})
	return out, err
}

// CopyObject copies an object to another name (and bucket): the source's
// read rule and the destination's write rule, limits, content types and
// the quota apply. move makes it a rename: metadata only, the source's
// delete rule applies too.
func (s *Service) CopyObject(ctx context.Context, bucket, name, dstBucket, dstName string, move bool) (*Object, error) {
	w, err := s.callerOf(ctx)
	if err != nil {
		return nil, err
	}
	dstBucket = cmpOr(dstBucket, bucket)
	for _, n := range []string{name, dstName} {
		if err := CheckObjectName(n); err != nil {
			return nil, err
		}
	}
	if bucket == dstBucket && name == dstName {
		return nil, invalidf("the destination is the source")
	}
	limit, err := s.quota(ctx, w.id.TenantRef)
	if err != nil {
		return nil, err
	}
	newKey := ""
	var old *Object
	var out *Object
	err = s.tx(ctx, w.id.TenantRef, func(q tenantdb.Querier, t tables) error {
		src, err := loadBucket(ctx, q, t, bucket, true)
		if err != nil {
			return err
		}
		dst := src
		if dstBucket != bucket {
			if dst, err = loadBucket(ctx, q, t, dstBucket, true); err != nil {
				return err
			}
		}
		if move {
			// Before the source row's lock (see lockUsage). A copy locks
			// no row before commit, and must not hold the usage lock
			// while its blob is copied.
			if err := lockUsage(ctx, q, t); err != nil {
				return err
			}
		}
		o, err := loadObject(ctx, q, t, src, name, move)
		if err != nil {
			return err
		}
		if err := s.authorize(w, src, opRead, o.values()); err != nil {
			return err
		}
		if move {
			if err := s.authorize(w, src, opDelete, o.values()); err != nil {
				return err
			}
		}
		if err := s.authorize(w, dst, opWrite, objectValues(dstName, o.Size, o.ContentType, o.Metadata)); err != nil {
			return err
		}
		if err := s.checkFits(dst, o.ContentType, o.Size); err != nil {
			return err
		}
		key := o.BlobKey
		if move {
			// The row moves and keeps its blob: keys are opaque, and a
			// forced bucket delete finds blobs through rows.
			if _, err := q.Exec(ctx, `DELETE FROM `+t.objects+` WHERE id = $1`, o.ID); err != nil {
				return fmt.Errorf("move object: %w", err)
			}
			if _, err := q.Exec(ctx, `UPDATE `+t.usage+` SET bytes = bytes - $1, objects = objects - 1 WHERE id = 1`, o.Size); err != nil {
				return fmt.Errorf("move object: %w", err)
			}
		} else {
			newKey = dst.id + "/" + newID()
			if _, err := s.cfg.Blobs.Copy(ctx, w.id.TenantRef, o.BlobKey, newKey); err != nil {
				return fmt.Errorf("copy blob: %w", err)
			}
			key = newKey
		}
		n := *o
		n.Name, n.BlobKey, n.Bucket = dstName, key, dst.name
		out, old, err = s.commit(ctx, q, t, dst, &n, limit, precondition{})
		return err
	})
	if err != nil {
		if newKey != "" {
			s.deleteBlobs(ctx, w.id.TenantRef, []string{newKey})
		}
		return nil, err
	}
	if old != nil {
		s.deleteBlobs(ctx, w.id.TenantRef, []string{old.BlobKey})
	}
	return out, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

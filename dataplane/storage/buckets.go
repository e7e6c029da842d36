package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
)

// bucketRow is a bucket as stored.
type bucketRow struct {
	id, name             string
	public               bool
	maxObjectBytes       int64
	allowedContentTypes  []string
	rules                struct{ read, write, del string }
	objects, bytes       int64
	createdAt, updatedAt time.Time
}

func (b *bucketRow) proto() *dataplanev1.Bucket {
	return &dataplanev1.Bucket{
		Name: b.name, Public: b.public, MaxObjectBytes: b.maxObjectBytes,
		AllowedContentTypes: b.allowedContentTypes,
		Rules:               &dataplanev1.BucketRules{Read: b.rules.read, Write: b.rules.write, Delete: b.rules.del},
		ObjectCount:         b.objects, SizeBytes: b.bytes,
		CreatedAt: timestamppb.New(b.createdAt), UpdatedAt: timestamppb.New(b.updatedAt),
	}
}

func bucketColumns(t tables) string {
	return `b.id::text, b.name, b.public, b.max_object_bytes, b.allowed_content_types, b.rule_read, b.rule_write, b.rule_delete,
	(SELECT count(*) FROM ` + t.objects + ` o WHERE o.bucket_id = b.id), (SELECT coalesce(sum(o.size), 0)::bigint FROM ` + t.objects + ` o WHERE o.bucket_id = b.id),
	b.created_at, b.updated_at`
}

func scanBucket(row pgx.Row) (*bucketRow, error) {
	var b bucketRow
	err := row.Scan(&b.id, &b.name, &b.public, &b.maxObjectBytes, &b.allowedContentTypes, &b.rules.read, &b.rules.write, &b.rules.del,
		&b.objects, &b.bytes, &b.createdAt, &b.updatedAt)
	if err != nil {
		return nil, err
	}
	return &b, nil
}

func bucketNotFound(name string) error {
	return connect.NewError(connect.CodeNotFound, fmt.Errorf("bucket %q not found", name))
}

// loadBucket reads a bucket in q, locking it FOR SHARE when lock is set
// (so it is not deleted under an upload). NotFound when missing.
func loadBucket(ctx context.Context, q tenantdb.Querier, t tables, name string, lock bool) (*bucketRow, error) {
	if err := CheckBucketName(name); err != nil {
		return nil, err
	}
	sql := `SELECT ` + bucketColumns(t) + ` FROM ` + t.buckets + ` b WHERE b.name = $1`
	if lock {
		sql += ` FOR SHARE OF b`
	}
	b, err := scanBucket(q.QueryRow(ctx, sql, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, bucketNotFound(name)
	}
	if err != nil {
		return nil, fmt.Errorf("read bucket: %w", err)
	}
	return b, nil
}

// bucket reads a bucket in its own transaction.
func (s *Service) bucket(ctx context.Context, ref, name string) (*bucketRow, error) {
	var b *bucketRow
	err := s.tx(ctx, ref, func(q tenantdb.Querier, t tables) (err error) {
		b, err = loadBucket(ctx, q, t, name, false)
		return err
	})
	return b, err
}

func (s *Service) checkBucket(b *dataplanev1.Bucket) error {
	if b.GetMaxObjectBytes() < 0 {
		return invalidf("max_object_bytes must be 0 (the platform's limit of %d bytes) or more", s.cfg.MaxObjectBytes)
	}
	if b.GetMaxObjectBytes() > s.cfg.MaxObjectBytes {
		return invalidf("max_object_bytes %d is more than the platform's limit of %d bytes", b.GetMaxObjectBytes(), s.cfg.MaxObjectBytes)
	}
	if err := checkContentTypes(b.GetAllowedContentTypes()); err != nil {
		return err
	}
	r := b.GetRules()
	_, err := s.compileRules(r.GetRead(), r.GetWrite(), r.GetDelete())
	return err
}

// CreateBucket makes a bucket; the service role only.
func (s *Service) CreateBucket(ctx context.Context, b *dataplanev1.Bucket) (*dataplanev1.Bucket, error) {
	w, err := s.serviceCallerOf(ctx)
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, invalidf("bucket is required")
	}
	if err := CheckBucketName(b.GetName()); err != nil {
		return nil, err
	}
	if err := s.checkBucket(b); err != nil {
		return nil, err
	}
	var out *bucketRow
	err = s.tx(ctx, w.id.TenantRef, func(q tenantdb.Querier, t tables) error {
		r := b.GetRules()
		_, err := q.Exec(ctx, `INSERT INTO `+t.buckets+` (name, public, max_object_bytes, allowed_content_types, rule_read, rule_write, rule_delete)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, b.GetName(), b.GetPublic(), b.GetMaxObjectBytes(), nonNil(b.GetAllowedContentTypes()),
			r.GetRead(), r.GetWrite(), r.GetDelete())
		if pe, ok := errors.AsType[*pgconn.PgError](err); ok && pe.Code == "23505" {
			return connect.NewError(connect.CodeAlreadyExists, fmt.Errorf("bucket %q already exists", b.GetName()))
		}
		if err != nil {
			return fmt.Errorf("insert bucket: %w", err)
		}
		out, err = loadBucket(ctx, q, t, b.GetName(), false)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out.proto(), nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// GetBucket returns a bucket; the service role only.
func (s *Service) GetBucket(ctx context.Context, name string) (*dataplanev1.Bucket, error) {
	w, err := s.serviceCallerOf(ctx)
	if err != nil {
		return nil, err
	}
	b, err := s.bucket(ctx, w.id.TenantRef, name)
	if err != nil {
		return nil, err
	}
	return b.proto(), nil
}

// ListBuckets returns every bucket by name; the service role only.
func (s *Service) ListBuckets(ctx context.Context) ([]*dataplanev1.Bucket, error) {
	w, err := s.serviceCallerOf(ctx)
	if err != nil {
		return nil, err
	}
	var out []*dataplanev1.Bucket
	err = s.tx(ctx, w.id.TenantRef, func(q tenantdb.Querier, t tables) error {
		rows, err := q.Query(ctx, `SELECT `+bucketColumns(t)+` FROM `+t.buckets+` b ORDER BY b.name`)
		if err != nil {
			return fmt.Errorf("list buckets: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			b, err := scanBucket(rows)
			if err != nil {
				return fmt.Errorf("list buckets: %w", err)
			}
			out = append(out, b.proto())
		}
		return rows.Err()
	})
	return out, err
}

// bucketMask are the fields UpdateBucket can change.
var bucketMask = []string{"public", "max_object_bytes", "allowed_content_types", "rules"}

// UpdateBucket changes the fields of b named in mask; the service role
// only.
func (s *Service) UpdateBucket(ctx context.Context, b *dataplanev1.Bucket, mask []string) (*dataplanev1.Bucket, error) {
	w, err := s.serviceCallerOf(ctx)
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, invalidf("bucket is required")
	}
	if err := CheckBucketName(b.GetName()); err != nil {
		return nil, err
	}
	for _, m := range mask {
		if !slices.Contains(bucketMask, m) {
			return nil, invalidf("update_mask: %q cannot be changed; use %v", m, bucketMask)
		}
	}
	if err := s.checkBucket(b); err != nil {
		return nil, err
	}
	var out *bucketRow
	err = s.tx(ctx, w.id.TenantRef, func(q tenantdb.Querier, t tables) error {
		cur, err := loadBucket(ctx, q, t, b.GetName(), false)
		if err != nil {
			return err
		}
		for _, m := range mask {
			switch m {
			case "public":
				cur.public = b.GetPublic()
			case "max_object_bytes":
				cur.maxObjectBytes = b.GetMaxObjectBytes()
			case "allowed_content_types":
				cur.allowedContentTypes = b.GetAllowedContentTypes()
			case "rules":
				r := b.GetRules()
				cur.rules.read, cur.rules.write, cur.rules.del = r.GetRead(), r.GetWrite(), r.GetDelete()
			}
		}
		// clock_timestamp, not now(): the rule cache keys on updated_at,
		// which must change with every update.
		_, err = q.Exec(ctx, `UPDATE `+t.buckets+` SET public = $2, max_object_bytes = $3, allowed_content_types = $4,
			rule_read = $5, rule_write = $6, rule_delete = $7, updated_at = clock_timestamp() WHERE id = $1`,
			cur.id, cur.public, cur.maxObjectBytes, nonNil(cur.allowedContentTypes), cur.rules.read, cur.rules.write, cur.rules.del)
		if err != nil {
			return fmt.Errorf("update bucket: %w", err)
		}
		out, err = loadBucket(ctx, q, t, b.GetName(), false)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out.proto(), nil
}

// DeleteBucket deletes an empty bucket, or with force the bucket and its
// objects (rows, usage and then blobs); the service role only. It returns
// the number of objects deleted.
func (s *Service) DeleteBucket(ctx context.Context, name string, force bool) (int64, error) {
	w, err := s.serviceCallerOf(ctx)
	if err != nil {
		return 0, err
	}
	var keys []string
	var size int64
	err = s.tx(ctx, w.id.TenantRef, func(q tenantdb.Querier, t tables) error {
		b, err := loadBucket(ctx, q, t, name, false)
		if err != nil {
			return err
		}
		if _, err := q.Exec(ctx, `SELECT 1 FROM `+t.buckets+` WHERE id = $1 FOR UPDATE`, b.id); err != nil {
			return fmt.Errorf("lock bucket: %w", err)
		}
		rows, err := q.Query(ctx, `SELECT blob_key, size FROM `+t.objects+` WHERE bucket_id = $1`, b.id)
		if err != nil {
			return fmt.Errorf("list objects: %w", err)
		}
		for rows.Next() {
			var k string
			var n int64
			if err := rows.Scan(&k, &n); err != nil {
				rows.Close()
				return fmt.Errorf("list objects: %w", err)
			}
			keys, size = append(keys, k), size+n
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("list objects: %w", err)
		}
		if len(keys) > 0 && !force {
			return connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("bucket %q holds %d objects: delete them first, or delete with force", name, len(keys)))
		}
		if _, err := q.Exec(ctx, `DELETE FROM `+t.buckets+` WHERE id = $1`, b.id); err != nil {
			return fmt.Errorf("delete bucket: %w", err)
		}
		_, err = q.Exec(ctx, `UPDATE `+t.usage+` SET bytes = bytes - $1, objects = objects - $2 WHERE id = 1`, size, len(keys))
		return err
	})
	if err != nil {
		return 0, err
	}
	s.deleteBlobs(ctx, w.id.TenantRef, keys)
	return int64(len(keys)), nil
}

// deleteBlobs removes blobs whose rows are gone; a failure leaves an
// orphan for the janitor, and is logged.
func (s *Service) deleteBlobs(ctx context.Context, ref string, keys []string) {
	ctx = context.WithoutCancel(ctx)
	for _, k := range keys {
		if err := s.cfg.Blobs.Delete(ctx, ref, k); err != nil {
			s.cfg.Logger.WarnContext(ctx, "storage: delete blob", "tenant", ref, "key", k, "err", err)
		}
	}
}

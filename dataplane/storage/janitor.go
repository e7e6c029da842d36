package storage

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sovereign-backend/sovereign/dataplane/storage/blob"
	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
)

// Janitor defaults.
const (
	// DefaultJanitorInterval is the time between two sweeps.
	DefaultJanitorInterval = 10 * time.Minute
	// DefaultUploadAge is how long a tus upload may stay unfinished.
	DefaultUploadAge = 24 * time.Hour
	// DefaultJanitorBatch is how many uploads, and how many orphan blobs,
	// one sweep removes per project at most.
	DefaultJanitorBatch = 500
	// DefaultJanitorMaxScan is how many blob keys one sweep lists per
	// project at most.
	DefaultJanitorMaxScan = 100_000
)

// JanitorConfig configures a Janitor.
type JanitorConfig struct {
	// Interval is the time between sweeps; 0 means DefaultJanitorInterval.
	Interval time.Duration
	// UploadAge: tus uploads created longer ago are removed, rows and
	// parts (finished ones keep only their row, for HEAD, until then);
	// 0 means DefaultUploadAge.
	UploadAge time.Duration
	// OrphanAge: a blob that neither an object row nor a live upload
	// names is deleted once the janitor has seen it so for this long
	// (blob backends keep no reliable age, so the clock starts at the
	// first sweep that sees it; a restart starts it again, which only
	// delays a deletion). 0 means the service's Config.OrphanAge (one
	// hour).
	OrphanAge time.Duration
	// Batch caps the uploads and, separately, the orphan blobs one sweep
	// removes per project; 0 means DefaultJanitorBatch. The rest waits
	// for the next sweep.
	Batch int
	// MaxScan caps the blob keys one sweep lists per project (in key
	// order, from the start); 0 means DefaultJanitorMaxScan.
	MaxScan int
	// Tenants lists the projects to sweep; nil means every tenant schema
	// of the database that holds storage tables.
	Tenants func(ctx context.Context) ([]string, error)
}

// JanitorStats counts what one sweep removed.
type JanitorStats struct {
	// Uploads is the expired tus uploads removed.
	Uploads int
	// Orphans is the orphan blobs deleted.
	Orphans int
}

// Janitor removes what failed or abandoned uploads leave behind: tus
// uploads older than UploadAge, and blobs no row names (a crash between a
// blob's write and its row's commit, or between a row's delete and its
// blob's). Run it on one node or several: sweeps of different nodes only
// repeat each other's deletions.
type Janitor struct {
	s   *Service
	cfg JanitorConfig

	mu sync.Mutex
	// seen[ref][key] is when key was first seen orphan.
	seen map[string]map[string]time.Time
}

// NewJanitor returns the service's janitor.
func (s *Service) NewJanitor(cfg JanitorConfig) *Janitor {
	cfg.Interval = cmp.Or(cfg.Interval, DefaultJanitorInterval)
	cfg.UploadAge = cmp.Or(cfg.UploadAge, DefaultUploadAge)
	cfg.OrphanAge = cmp.Or(cfg.OrphanAge, s.cfg.OrphanAge)
	cfg.Batch = cmp.Or(cfg.Batch, DefaultJanitorBatch)
	cfg.MaxScan = cmp.Or(cfg.MaxScan, DefaultJanitorMaxScan)
	return &Janitor{s: s, cfg: cfg, seen: map[string]map[string]time.Time{}}
}

// Run sweeps every Interval until ctx ends, logging what fails.
func (j *Janitor) Run(ctx context.Context) {
	t := time.NewTicker(j.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, err := j.Sweep(ctx)
		if err != nil && ctx.Err() == nil {
			j.s.cfg.Logger.WarnContext(ctx, "storage: janitor sweep", "err", err)
		}
		if st.Uploads+st.Orphans > 0 {
			j.s.cfg.Logger.InfoContext(ctx, "storage: janitor sweep", "uploads", st.Uploads, "orphans", st.Orphans)
		}
	}
}

// Sweep runs one sweep over every project; a project that fails does not
// stop the others (their errors are joined).
func (j *Janitor) Sweep(ctx context.Context) (JanitorStats, error) {
	refs, err := j.tenants(ctx)
	if err != nil {
		return JanitorStats{}, err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	var st JanitorStats
	var errs []error
	keep := make(map[string]bool, len(refs))
	for _, ref := range refs {
		keep[ref] = true
		n, err := j.expireUploads(ctx, ref)
		st.Uploads += n
		if err != nil {
			errs = append(errs, fmt.Errorf("tenant %s: %w", ref, err))
		}
		n, err = j.deleteOrphans(ctx, ref)
		st.Orphans += n
		if err != nil {
			errs = append(errs, fmt.Errorf("tenant %s: %w", ref, err))
		}
	}
	for ref := range j.seen {
		if !keep[ref] {
			delete(j.seen, ref)
		}
	}
	return st, errors.Join(errs...)
}

// tenants are the projects to sweep.
func (j *Janitor) tenants(ctx context.Context) ([]string, error) {
	if j.cfg.Tenants != nil {
		return j.cfg.Tenants(ctx)
	}
	rows, err := j.s.cfg.DB.Pool().Query(ctx, `SELECT substr(n.nspname, 3) FROM pg_catalog.pg_class c
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relname = $1 AND c.relkind = 'r' AND n.nspname LIKE 't\_%' ORDER BY 1`, objectsTable)
	if err != nil {
		return nil, fmt.Errorf("storage: list tenants with storage: %w", err)
	}
	defer rows.Close()
	var refs []string
	for rows.Next() {
		var ref string
		if err := rows.Scan(&ref); err != nil {
			return nil, err
		}
		if validRef(ref) {
			refs = append(refs, ref)
		}
	}
	return refs, rows.Err()
}

// expireUploads deletes up to Batch uploads of ref older than UploadAge:
// rows first, then parts (parts a failure leaves are orphans for
// deleteOrphans).
func (j *Janitor) expireUploads(ctx context.Context, ref string) (int, error) {
	cutoff := j.s.cfg.Now().Add(-j.cfg.UploadAge)
	var ids []string
	err := j.s.uploadsTx(ctx, ref, func(q tenantdb.Querier, tb string) error {
		rows, err := q.Query(ctx, `DELETE FROM `+tb+` WHERE id IN (
			SELECT id FROM `+tb+` WHERE created_at < $1 ORDER BY created_at LIMIT $2) RETURNING id`, cutoff, j.cfg.Batch)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return rows.Err()
	})
	if err != nil {
		return 0, fmt.Errorf("expire uploads: %w", err)
	}
	for _, id := range ids {
		j.s.removeParts(ctx, ref, id)
	}
	return len(ids), nil
}

// orphanQueryBatch is how many keys one query checks.
const orphanQueryBatch = 1000

// deleteOrphans lists up to MaxScan blobs of ref, finds those that no
// object row names (object blobs) or whose upload has no row (part
// blobs), and deletes up to Batch of those seen orphan for OrphanAge.
func (j *Janitor) deleteOrphans(ctx context.Context, ref string) (int, error) {
	var keys []string
	if err := j.s.cfg.Blobs.List(ctx, ref, "", func(i blob.Info) bool {
		keys = append(keys, i.Key)
		return len(keys) < j.cfg.MaxScan
	}); err != nil {
		return 0, fmt.Errorf("list blobs: %w", err)
	}
	orphans := map[string]bool{}
	for chunk := range slices.Chunk(keys, orphanQueryBatch) {
		var objectKeys, uploadIDs []string
		for _, k := range chunk {
			if id, ok := uploadOfPart(k); ok {
				uploadIDs = append(uploadIDs, id)
			} else {
				objectKeys = append(objectKeys, k)
			}
		}
		named := map[string]bool{}
		err := j.s.uploadsTx(ctx, ref, func(q tenantdb.Querier, up string) error {
			t := tablesOf(ref)
			rows, err := q.Query(ctx, `SELECT blob_key FROM `+t.objects+` WHERE blob_key = ANY($1)
				UNION ALL SELECT 'uploads/' || id || '/' FROM `+up+` WHERE id = ANY($2)`, objectKeys, uploadIDs)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var k string
				if err := rows.Scan(&k); err != nil {
					return err
				}
				named[k] = true
			}
			return rows.Err()
		})
		if err != nil {
			return 0, fmt.Errorf("find orphan blobs: %w", err)
		}
		for _, k := range chunk {
			if id, ok := uploadOfPart(k); ok {
				if !named[partPrefix(id)] {
					orphans[k] = true
				}
			} else if !named[k] {
				orphans[k] = true
			}
		}
	}
	now := j.s.cfg.Now()
	prev := j.seen[ref]
	seen := make(map[string]time.Time, len(orphans))
	var doomed []string
	for _, k := range keys {
		if !orphans[k] {
			continue
		}
		first, ok := prev[k]
		if !ok {
			first = now
		}
		seen[k] = first
		if now.Sub(first) >= j.cfg.OrphanAge && len(doomed) < j.cfg.Batch {
			doomed = append(doomed, k)
		}
	}
	j.seen[ref] = seen
	var errs []error
	n := 0
	for _, k := range doomed {
		if err := j.s.cfg.Blobs.Delete(ctx, ref, k); err != nil {
			errs = append(errs, fmt.Errorf("delete orphan blob: %w", err))
			continue
		}
		delete(seen, k)
		n++
	}
	return n, errors.Join(errs...)
}

// uploadOfPart returns the upload id of a part blob's key.
func uploadOfPart(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, "uploads/")
	if !ok {
		return "", false
	}
	id, _, ok := strings.Cut(rest, "/")
	return id, ok
}

package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"
	tusd "github.com/tus/tusd/v2/pkg/handler"

	"github.com/sovereign-backend/sovereign/dataplane/storage/blob"
	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
)

// uploadsTable holds the state of a tenant's tus uploads: one row per
// upload, with the keys of the part blobs received so far in order.
const uploadsTable = "_storage_uploads"

// uploadsDDL makes the uploads table of ref, with row-level security
// enabled and forced and the service-only policy of the other storage
// tables (store.go).
func uploadsDDL(ref string) string {
	tb := tenantdb.Table(ref, uploadsTable)
	return `
CREATE TABLE IF NOT EXISTS ` + tb + ` (
    id         text PRIMARY KEY,
    -- the end user who created it, '' for a key without a user
    owner      text NOT NULL DEFAULT '',
    size       bigint NOT NULL CHECK (size >= 0),
    "offset"   bigint NOT NULL DEFAULT 0 CHECK ("offset" >= 0 AND "offset" <= size),
    -- the tus Upload-Metadata, decoded
    meta       jsonb NOT NULL DEFAULT '{}',
    -- the part blobs' keys, in offset order
    parts      text[] NOT NULL DEFAULT '{}',
    -- the last byte arrived and the object was committed (or is being)
    done       boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS ` + quoteIdent(uploadsTable+"_created_at") + ` ON ` + tb + ` (created_at);
ALTER TABLE ` + tb + ` ENABLE ROW LEVEL SECURITY;
ALTER TABLE ` + tb + ` FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS service_all ON ` + tb + `;
CREATE POLICY service_all ON ` + tb + ` USING (` + serviceCheck + `) WITH CHECK (` + serviceCheck + `);`
}

// quoteIdent quotes an unqualified identifier (an index name, which
// lives in its table's schema).
func quoteIdent(name string) string { return pgx.Identifier{name}.Sanitize() }

// uploadsTx runs fn in a service-role transaction of ref with the uploads
// table (tb, schema-qualified) made first when missing. The table is
// probed in every transaction rather than cached, so a purged and
// re-provisioned tenant gets it again; tus requests come one per chunk.
func (s *Service) uploadsTx(ctx context.Context, ref string, fn func(q tenantdb.Querier, tb string) error) error {
	tb := tenantdb.Table(ref, uploadsTable)
	return s.tx(ctx, ref, func(q tenantdb.Querier, _ tables) error {
		if _, err := tenantdb.EnsureTables(ctx, q, lockName(ref), uploadsDDL(ref), tb); err != nil {
			return fmt.Errorf("storage: uploads table: %w", err)
		}
		return fn(q, tb)
	})
}

// tusStore is the tusd DataStore of the storage service: parts are blobs
// "uploads/<upload id>/<offset>.<nonce>" (the nonce keeps two racing
// PATCHes at one offset from writing the same blob; only the one that
// moves the row's offset is kept), the state a row of _storage_uploads in
// the caller's tenant schema.
type tusStore struct{ s *Service }

var (
	_ tusd.DataStore           = (*tusStore)(nil)
	_ tusd.TerminaterDataStore = (*tusStore)(nil)
)

// tusUpload is one upload of one tenant.
type tusUpload struct {
	s            *Service
	ref, id      string
	owner        string
	size, offset int64
	meta         map[string]string
	done         bool
}

// partPrefix is the blob key prefix of an upload's parts.
func partPrefix(id string) string { return "uploads/" + id + "/" }

// NewUpload checks the upload against the bucket (existence, content
// type, size limit), its write rule and the project's quota with
// Upload-Length, before a byte is stored, and records it.
func (ts *tusStore) NewUpload(ctx context.Context, info tusd.FileInfo) (tusd.Upload, error) {
	u, err := ts.newUpload(ctx, info)
	return u, tusError(ctx, err)
}

func (ts *tusStore) newUpload(ctx context.Context, info tusd.FileInfo) (tusd.Upload, error) {
	s := ts.s
	w, err := s.callerOf(ctx)
	if err != nil {
		return nil, err
	}
	if info.SizeIsDeferred {
		return nil, invalidf("Upload-Length is required: uploads of unknown length are not supported")
	}
	p, err := parseTUSMeta(info.MetaData)
	if err != nil {
		return nil, err
	}
	ref := w.id.TenantRef
	b, err := s.bucket(ctx, ref, p.bucket)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(w, b, opWrite, objectValues(p.name, info.Size, p.contentType, p.metadata)); err != nil {
		return nil, err
	}
	if p.contentType != "" {
		if err := s.checkFits(b, p.contentType, info.Size); err != nil {
			return nil, err
		}
	} else if max := s.maxObject(b); info.Size > max {
		return nil, tooLarge("the object is %d bytes, more than the limit of %d bytes of bucket %q", info.Size, max, b.name)
	}
	limit, err := s.quota(ctx, ref)
	if err != nil {
		return nil, err
	}
	if limit > 0 {
		used, _, err := s.usage(ctx, ref)
		if err != nil {
			return nil, err
		}
		if used+info.Size > limit {
			return nil, tooLarge("the project's storage quota of %d bytes would be passed: %d bytes are used and the upload is %d bytes", limit, used, info.Size)
		}
	}
	u := &tusUpload{s: s, ref: ref, id: newID(), owner: w.id.UserID, size: info.Size, meta: map[string]string(info.MetaData)}
	if u.meta == nil {
		u.meta = map[string]string{}
	}
	err = s.uploadsTx(ctx, ref, func(q tenantdb.Querier, tb string) error {
		_, err := q.Exec(ctx, `INSERT INTO `+tb+` (id, owner, size, meta) VALUES ($1, $2, $3, $4)`, u.id, u.owner, u.size, u.meta)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("record upload: %w", err)
	}
	return u, nil
}

// GetUpload returns the caller's upload id: NotFound for an unknown id,
// another project's, or another end user's (a secret key reaches every
// upload of its project).
func (ts *tusStore) GetUpload(ctx context.Context, id string) (tusd.Upload, error) {
	u, err := ts.getUpload(ctx, id)
	return u, tusError(ctx, err)
}

func (ts *tusStore) getUpload(ctx context.Context, id string) (tusd.Upload, error) {
	s := ts.s
	w, err := s.callerOf(ctx)
	if err != nil {
		return nil, err
	}
	if !uploadIDPattern.MatchString(id) {
		return nil, errUploadNotFound(id)
	}
	u := &tusUpload{s: s, ref: w.id.TenantRef, id: id}
	err = s.uploadsTx(ctx, u.ref, func(q tenantdb.Querier, tb string) error {
		return q.QueryRow(ctx, `SELECT owner, size, "offset", meta, done FROM `+tb+` WHERE id = $1`, id).
			Scan(&u.owner, &u.size, &u.offset, &u.meta, &u.done)
	})
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && !w.service() && u.owner != w.id.UserID) {
		return nil, errUploadNotFound(id)
	}
	if err != nil {
		return nil, fmt.Errorf("read upload: %w", err)
	}
	return u, nil
}

// AsTerminatableUpload lets DELETE cancel an upload.
func (ts *tusStore) AsTerminatableUpload(u tusd.Upload) tusd.TerminatableUpload {
	return u.(*tusUpload)
}

// GetInfo is the upload as tus reports it (HEAD).
func (u *tusUpload) GetInfo(context.Context) (tusd.FileInfo, error) {
	return tusd.FileInfo{ID: u.id, Size: u.size, Offset: u.offset, MetaData: u.meta}, nil
}

// GetReader is not offered: the object is downloaded once it exists.
func (u *tusUpload) GetReader(context.Context) (io.ReadCloser, error) {
	return nil, tusd.ErrNotImplemented
}

// WriteChunk streams src (which ends early, without an error, when the
// client goes away mid-body) into a new part blob and appends it to the
// upload if the upload is still at offset; a part that lost a race is
// deleted and answers 409 (tus's offset mismatch).
func (u *tusUpload) WriteChunk(ctx context.Context, offset int64, src io.Reader) (int64, error) {
	n, err := u.writeChunk(ctx, offset, src)
	return n, tusError(ctx, err)
}

func (u *tusUpload) writeChunk(ctx context.Context, offset int64, src io.Reader) (int64, error) {
	nonce := make([]byte, 4)
	_, _ = rand.Read(nonce)
	key := fmt.Sprintf("%s%020d.%s", partPrefix(u.id), offset, hex.EncodeToString(nonce))
	be := u.s.cfg.Blobs
	// tusd caps src at the upload's remaining length.
	info, err := be.Put(ctx, u.ref, key, io.LimitReader(src, u.size-offset), -1)
	if err != nil {
		u.s.deleteBlobs(ctx, u.ref, []string{key})
		return 0, fmt.Errorf("store upload part: %w", err)
	}
	if info.Size == 0 {
		u.s.deleteBlobs(ctx, u.ref, []string{key})
		return 0, nil
	}
	var moved bool
	err = u.s.uploadsTx(ctx, u.ref, func(q tenantdb.Querier, tb string) error {
		tag, err := q.Exec(ctx, `UPDATE `+tb+` SET "offset" = "offset" + $3, parts = array_append(parts, $4), updated_at = now()
			WHERE id = $1 AND "offset" = $2 AND NOT done`, u.id, offset, info.Size, key)
		moved = tag.RowsAffected() == 1
		return err
	})
	if err != nil || !moved {
		u.s.deleteBlobs(ctx, u.ref, []string{key})
		if err != nil {
			return 0, fmt.Errorf("record upload part: %w", err)
		}
		return 0, tusd.ErrMismatchOffset
	}
	u.offset = offset + info.Size
	return info.Size, nil
}

// FinishUpload runs when the last byte has arrived: it streams the parts,
// in order, into the object through the same path as PUT (content type
// sniffed or checked, checksum from the sha256 metadata, the write rule,
// the bucket limit and the quota re-checked atomically with the commit,
// usage counted), then deletes the parts. When the object is refused the
// whole upload is removed: nothing is kept, and the client must start
// again.
func (u *tusUpload) FinishUpload(ctx context.Context) error {
	return tusError(ctx, u.finish(ctx))
}

func (u *tusUpload) finish(ctx context.Context) error {
	s := u.s
	// Every byte is here: a client that stops waiting for the answer must
	// not cancel the commit (and so lose the upload).
	ctx = context.WithoutCancel(ctx)
	var parts []string
	var claimed bool
	err := s.uploadsTx(ctx, u.ref, func(q tenantdb.Querier, tb string) error {
		err := q.QueryRow(ctx, `UPDATE `+tb+` SET done = true, updated_at = now()
			WHERE id = $1 AND NOT done AND "offset" = size RETURNING parts, meta`, u.id).Scan(&parts, &u.meta)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		claimed = err == nil
		return err
	})
	if err != nil {
		return fmt.Errorf("claim upload: %w", err)
	}
	if !claimed {
		// Finished (or being finished) by another request.
		return nil
	}
	w, err := s.callerOf(ctx)
	if err == nil {
		var p tusParams
		if p, err = parseTUSMeta(u.meta); err == nil {
			body := newPartsReader(ctx, s.cfg.Blobs, u.ref, parts)
			_, _, err = s.put(ctx, w, PutParams{Bucket: p.bucket, Name: p.name, ContentType: p.contentType, Size: u.size,
				SHA256: p.sha256, Metadata: p.metadata, Body: body})
			body.Close()
		}
	}
	if err != nil {
		s.removeUpload(ctx, u.ref, u.id)
		return err
	}
	s.removeParts(ctx, u.ref, u.id)
	if err := s.uploadsTx(ctx, u.ref, func(q tenantdb.Querier, tb string) error {
		_, err := q.Exec(ctx, `UPDATE `+tb+` SET parts = '{}' WHERE id = $1`, u.id)
		return err
	}); err != nil {
		s.cfg.Logger.WarnContext(ctx, "storage: clear finished upload's parts", "tenant", u.ref, "upload", u.id, "err", err)
	}
	u.offset, u.done = u.size, true
	return nil
}

// Terminate cancels the upload: its parts and its row go.
func (u *tusUpload) Terminate(ctx context.Context) error {
	s := u.s
	if err := s.uploadsTx(ctx, u.ref, func(q tenantdb.Querier, tb string) error {
		_, err := q.Exec(ctx, `DELETE FROM `+tb+` WHERE id = $1`, u.id)
		return err
	}); err != nil {
		return tusError(ctx, fmt.Errorf("delete upload: %w", err))
	}
	s.removeParts(ctx, u.ref, u.id)
	return nil
}

// removeUpload deletes an upload's row and then its parts; a failure is
// logged and left to the janitor.
func (s *Service) removeUpload(ctx context.Context, ref, id string) {
	ctx = context.WithoutCancel(ctx)
	if err := s.uploadsTx(ctx, ref, func(q tenantdb.Querier, tb string) error {
		_, err := q.Exec(ctx, `DELETE FROM `+tb+` WHERE id = $1`, id)
		return err
	}); err != nil {
		s.cfg.Logger.WarnContext(ctx, "storage: delete upload", "tenant", ref, "upload", id, "err", err)
	}
	s.removeParts(ctx, ref, id)
}

// removeParts deletes every blob under the upload's prefix (its parts,
// and parts of PATCHes that lost a race or a crash left behind).
func (s *Service) removeParts(ctx context.Context, ref, id string) {
	ctx = context.WithoutCancel(ctx)
	var keys []string
	if err := s.cfg.Blobs.List(ctx, ref, partPrefix(id), func(i blob.Info) bool {
		keys = append(keys, i.Key)
		return true
	}); err != nil {
		s.cfg.Logger.WarnContext(ctx, "storage: list upload parts", "tenant", ref, "upload", id, "err", err)
	}
	s.deleteBlobs(ctx, ref, keys)
}

// partsReader reads the parts one after the other, each opened when the
// previous one ends: io.MultiReader over lazily opened blob Gets, so one
// part at a time is open and the bytes stream.
type partsReader struct {
	io.Reader
	parts []*lazyBlob
}

func newPartsReader(ctx context.Context, be blob.Backend, ref string, keys []string) *partsReader {
	pr := &partsReader{}
	rs := make([]io.Reader, len(keys))
	for i, k := range keys {
		lb := &lazyBlob{ctx: ctx, be: be, ref: ref, key: k}
		pr.parts = append(pr.parts, lb)
		rs[i] = lb
	}
	pr.Reader = io.MultiReader(rs...)
	return pr
}

// Close closes any part still open.
func (pr *partsReader) Close() {
	for _, p := range pr.parts {
		p.close()
	}
}

// lazyBlob reads a whole blob, opening it at the first Read and closing it
// at its end.
type lazyBlob struct {
	ctx      context.Context
	be       blob.Backend
	ref, key string
	rc       io.ReadCloser
	ended    bool
}

func (l *lazyBlob) Read(p []byte) (int, error) {
	if l.ended {
		return 0, io.EOF
	}
	if l.rc == nil {
		rc, err := l.be.Get(l.ctx, l.ref, l.key, 0, -1)
		if err != nil {
			return 0, fmt.Errorf("read upload part: %w", err)
		}
		l.rc = rc
	}
	n, err := l.rc.Read(p)
	if err == io.EOF {
		l.ended = true
		l.close()
	}
	return n, err
}

func (l *lazyBlob) close() {
	if l.rc != nil {
		_ = l.rc.Close()
		l.rc = nil
	}
}

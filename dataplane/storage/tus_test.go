package storage_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	tusd "github.com/tus/tusd/v2/pkg/handler"

	"github.com/sovereign-backend/sovereign/dataplane/apikeys"
	"github.com/sovereign-backend/sovereign/dataplane/migrations"
	"github.com/sovereign-backend/sovereign/dataplane/rest"
	"github.com/sovereign-backend/sovereign/dataplane/storage"
	"github.com/sovereign-backend/sovereign/dataplane/storage/blob"
	"github.com/sovereign-backend/sovereign/dataplane/storage/blob/blobtest"
	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
	"github.com/sovereign-backend/sovereign/dataplane/tenants"
	"github.com/sovereign-backend/sovereign/internal/broker"
	"github.com/sovereign-backend/sovereign/internal/migrate"
	"github.com/sovereign-backend/sovereign/internal/testenv"
)

// newTUSEnv is newEnv on a given backend, with the service for the
// janitor.
func newTUSEnv(t *testing.T, blobs blob.Backend, quota int64) (*env, *storage.Service, *pgxpool.Pool) {
	t.Helper()
	pool := testenv.Pool(t)
	ctx := t.Context()
	if _, err := migrate.Up(ctx, pool, migrate.Config{Schema: "dataplane", FS: migrations.FS, Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	keys, err := apikeys.New(apikeys.Config{Pool: pool, Broker: broker.NewMemory(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ts, err := tenants.New(tenants.Config{Pool: pool, Changed: keys.TenantChanged})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := storage.New(storage.Config{DB: tenantdb.New(pool), Blobs: blobs,
		QuotaBytes: func(context.Context, string) (int64, error) { return quota, nil }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	storage.NewREST(svc, keys, nil).Register(mux)
	// As the data plane mounts it: inside the platform's CORS handler.
	srv := httptest.NewServer(rest.CORS(rest.CORSConfig{}, mux))
	t.Cleanup(srv.Close)
	return &env{url: srv.URL, blobs: blobs, keys: keys, tenants: ts}, svc, pool
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// tusCreate POSTs a new upload and returns the response.
func tusCreate(t *testing.T, e *env, key string, length int64, meta map[string]string) resp {
	t.Helper()
	return do(t, "POST", e.url+storage.TUSPath, key, nil, map[string]string{
		"Tus-Resumable": "1.0.0", "Upload-Length": strconv.FormatInt(length, 10),
		"Upload-Metadata": tusd.SerializeMetadataHeader(meta)})
}

func tusPatch(t *testing.T, loc, key string, offset int64, body []byte) resp {
	t.Helper()
	return do(t, "PATCH", loc, key, bytes.NewReader(body), map[string]string{
		"Tus-Resumable": "1.0.0", "Content-Type": "application/offset+octet-stream", "Upload-Offset": strconv.FormatInt(offset, 10)})
}

func tusHead(t *testing.T, loc, key string) resp {
	t.Helper()
	return do(t, "HEAD", loc, key, nil, map[string]string{"Tus-Resumable": "1.0.0"})
}

// interruptedPatch sends a PATCH that announces want bytes but sends only
// body, then stops sending (closes its side of the connection) and waits
// for the server's answer, as a client that lost its network mid-body.
func interruptedPatch(t *testing.T, loc, key string, offset int64, body []byte, want int) {
	t.Helper()
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: %s\r\nApikey: %s\r\nTus-Resumable: 1.0.0\r\n"+
		"Content-Type: application/offset+octet-stream\r\nUpload-Offset: %d\r\nContent-Length: %d\r\n\r\n",
		u.RequestURI(), u.Host, key, offset, want)
	if _, err := conn.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("interrupted PATCH: no answer: %v", err)
	}
	_ = res.Body.Close()
	if res.StatusCode < 400 {
		t.Errorf("interrupted PATCH answered %s", res.Status)
	}
}

func (e *env) blobKeys(t *testing.T, ref, prefix string) []string {
	t.Helper()
	var keys []string
	if err := e.blobs.List(t.Context(), ref, prefix, func(i blob.Info) bool { keys = append(keys, i.Key); return true }); err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestTUSResumeAfterInterruption: create, PATCH a part, PATCH cut off
// mid-body, HEAD gives the offset with the bytes that arrived, resume,
// finish: the object is there with its checksum and metadata, the parts
// are gone, and usage counts it; on local disk and on MinIO.
func TestTUSResumeAfterInterruption(t *testing.T) {
	t.Parallel()
	blobtest.ForEach(t, func(t *testing.T, b blob.Backend) {
		t.Parallel()
		e, _, _ := newTUSEnv(t, b, 0)
		ref, sk, _ := e.tenant(t)
		if r := do(t, "POST", e.url+"/v1/storage/buckets", sk, strings.NewReader(`{"name":"media","max_object_bytes":1048576}`), nil); r.status != 201 {
			t.Fatalf("create bucket: %d %s", r.status, r.body)
		}
		data := randomBytes(t, 300<<10)
		sum := hexSum(data)
		c := tusCreate(t, e, sk, int64(len(data)), map[string]string{"bucket": "media", "name": "videos/clip.bin",
			"content_type": "application/octet-stream", "sha256": sum, "meta-owner": "me"})
		loc := c.header.Get("Location")
		if c.status != 201 || !strings.Contains(loc, storage.TUSPath) {
			t.Fatalf("create: %d %q %s", c.status, loc, c.body)
		}
		if r := tusPatch(t, loc, sk, 0, data[:100<<10]); r.status != 204 || r.header.Get("Upload-Offset") != strconv.Itoa(100<<10) {
			t.Fatalf("first PATCH: %d %v %s", r.status, r.header, r.body)
		}
		interruptedPatch(t, loc, sk, 100<<10, data[100<<10:150<<10], 100<<10)
		h := tusHead(t, loc, sk)
		off, err := strconv.Atoi(h.header.Get("Upload-Offset"))
		if h.status != 200 || err != nil || off != 150<<10 || h.header.Get("Upload-Length") != strconv.Itoa(len(data)) {
			t.Fatalf("HEAD after the interruption: %d offset %q length %q, want offset %d", h.status, h.header.Get("Upload-Offset"), h.header.Get("Upload-Length"), 150<<10)
		}
		if g := do(t, "GET", e.url+"/v1/storage/objects/media/videos/clip.bin", sk, nil, nil); g.status != 404 {
			t.Errorf("object visible before the last byte: %d", g.status)
		}
		if r := tusPatch(t, loc, sk, int64(off), data[off:]); r.status != 204 || r.header.Get("Upload-Offset") != strconv.Itoa(len(data)) {
			t.Fatalf("resumed PATCH: %d %v %s", r.status, r.header, r.body)
		}
		g := do(t, "GET", e.url+"/v1/storage/objects/media/videos/clip.bin", sk, nil, nil)
		if g.status != 200 || hexSum([]byte(g.body)) != sum || g.header.Get("X-Checksum-Sha256") != sum || g.header.Get("X-Meta-Owner") != "me" {
			t.Fatalf("download: %d, %d bytes, sha256 %s (want %s), headers %v", g.status, len(g.body), hexSum([]byte(g.body)), sum, g.header)
		}
		if parts := e.blobKeys(t, ref, "uploads/"); len(parts) != 0 {
			t.Errorf("parts left after the finish: %v", parts)
		}
		if u := do(t, "GET", e.url+"/v1/storage/usage", sk, nil, nil); !strings.Contains(u.body, `"bytes":"`+strconv.Itoa(len(data))+`"`) {
			t.Errorf("usage: %s", u.body)
		}
		if h := tusHead(t, loc, sk); h.status != 200 || h.header.Get("Upload-Offset") != strconv.Itoa(len(data)) {
			t.Errorf("HEAD after the finish: %d %v", h.status, h.header)
		}
	})
}

// TestTUSRefusals: bad input and other callers get the answers the
// contract gives, and leave nothing stored.
func TestTUSRefusals(t *testing.T) {
	t.Parallel()
	b, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const quota = 1000
	e, _, pool := newTUSEnv(t, b, quota)
	ref, sk, pk := e.tenant(t)
	_, otherSK, _ := e.tenant(t)
	if r := do(t, "POST", e.url+"/v1/storage/buckets", sk, strings.NewReader(`{"name":"docs","max_object_bytes":800,"allowed_content_types":["text/*"]}`), nil); r.status != 201 {
		t.Fatalf("create bucket: %d %s", r.status, r.body)
	}
	ok := map[string]string{"bucket": "docs", "name": "a.txt", "content_type": "text/plain"}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for k, v := range ok {
			m[k] = v
		}
		m[k] = v
		return m
	}
	for _, tc := range []struct {
		name   string
		key    string
		length int64
		meta   map[string]string
		status int
		code   string
	}{
		{"no key", "", 10, ok, 401, "unauthenticated"},
		{"over the bucket limit", sk, 801, ok, 413, "resource_exhausted"},
		{"over the platform limit", sk, storage.DefaultMaxObjectBytes + 1, ok, 413, ""},
		{"unknown bucket", sk, 10, with("bucket", "nope"), 404, "not_found"},
		{"no name", sk, 10, with("name", ""), 400, "invalid_argument"},
		{"traversal", sk, 10, with("name", "a/../b"), 400, "invalid_argument"},
		{"content type", sk, 10, with("content_type", "image/png"), 400, "invalid_argument"},
		{"bad checksum", sk, 10, with("sha256", "xyz"), 400, "invalid_argument"},
		{"bad metadata key", sk, 10, with("meta-BAD", "v"), 400, "invalid_argument"},
		{"publishable key, no write rule", pk, 10, ok, 403, "permission_denied"},
	} {
		r := tusCreate(t, e, tc.key, tc.length, tc.meta)
		if r.status != tc.status || !strings.Contains(r.body, tc.code) {
			t.Errorf("%s: %d %s, want %d %s", tc.name, r.status, r.body, tc.status, tc.code)
		}
		if tc.code != "" && tc.status != 401 && !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
			t.Errorf("%s: error body is %s, not JSON", tc.name, r.header.Get("Content-Type"))
		}
	}
	// The quota: 400 bytes stored, an upload of 700 passes 1000.
	if r := do(t, "PUT", e.url+"/v1/storage/objects/docs/base.txt", sk, strings.NewReader(strings.Repeat("b", 400)), map[string]string{"Content-Type": "text/plain"}); r.status != 201 {
		t.Fatalf("put: %d %s", r.status, r.body)
	}
	if r := tusCreate(t, e, sk, 450, ok); r.status != 201 {
		t.Fatalf("create within the quota: %d %s", r.status, r.body)
	}
	if r := tusCreate(t, e, sk, 601, with("name", "q.txt")); r.status != 413 || !strings.Contains(r.body, "quota") {
		t.Errorf("over the quota: %d %s", r.status, r.body)
	}

	// Another project's upload, and a wrong checksum.
	data := []byte(strings.Repeat("hello ", 20))
	c := tusCreate(t, e, sk, int64(len(data)), with("sha256", hexSum([]byte("something else"))))
	loc := c.header.Get("Location")
	if c.status != 201 {
		t.Fatalf("create: %d %s", c.status, c.body)
	}
	if r := tusHead(t, loc, otherSK); r.status != 404 {
		t.Errorf("HEAD of another project's upload: %d", r.status)
	}
	if r := tusPatch(t, loc, otherSK, 0, data); r.status != 404 {
		t.Errorf("PATCH of another project's upload: %d %s", r.status, r.body)
	}
	if r := do(t, "DELETE", loc, otherSK, nil, map[string]string{"Tus-Resumable": "1.0.0"}); r.status != 404 {
		t.Errorf("DELETE of another project's upload: %d", r.status)
	}
	if r := tusHead(t, e.url+storage.TUSPath+"not-an-id", sk); r.status != 404 {
		t.Errorf("HEAD of a malformed id: %d", r.status)
	}
	if r := tusHead(t, loc, ""); r.status != 401 {
		t.Errorf("HEAD without a key: %d", r.status)
	}
	before := e.blobCount(t, ref)
	r := tusPatch(t, loc, sk, 0, data)
	if r.status != 400 || !strings.Contains(r.body, "invalid_argument") || !strings.Contains(r.body, "checksum") {
		t.Errorf("wrong checksum: %d %s", r.status, r.body)
	}
	if g := do(t, "GET", e.url+"/v1/storage/objects/docs/a.txt", sk, nil, nil); g.status != 404 {
		t.Errorf("object after a wrong checksum: %d", g.status)
	}
	if n := e.blobCount(t, ref); n != before {
		t.Errorf("%d blobs after a refused upload, want %d", n, before)
	}
	if parts := e.blobKeys(t, ref, "uploads/"); len(parts) != 0 {
		t.Errorf("parts kept after a wrong checksum: %v", parts)
	}
	if r := tusHead(t, loc, sk); r.status != 404 {
		t.Errorf("HEAD of a refused upload: %d", r.status)
	}
	if u := do(t, "GET", e.url+"/v1/storage/usage", sk, nil, nil); !strings.Contains(u.body, `"bytes":"400"`) {
		t.Errorf("usage after a refused upload: %s", u.body)
	}

	// The quota is checked again when the last byte arrives: two uploads
	// that each fit at creation do not both fit.
	part := []byte(strings.Repeat("q", 350))
	q1 := tusCreate(t, e, sk, 350, with("name", "q1.txt")).header.Get("Location")
	q2 := tusCreate(t, e, sk, 350, with("name", "q2.txt")).header.Get("Location")
	if r := tusPatch(t, q1, sk, 0, part); r.status != 204 {
		t.Fatalf("first upload within the quota: %d %s", r.status, r.body)
	}
	before = e.blobCount(t, ref)
	if r := tusPatch(t, q2, sk, 0, part); r.status != 413 || !strings.Contains(r.body, "resource_exhausted") {
		t.Errorf("second upload over the quota at the finish: %d %s", r.status, r.body)
	}
	if n := e.blobCount(t, ref); n != before {
		t.Errorf("%d blobs after the refused finish, want %d (its part gone, nothing new)", n, before)
	}
	if r := tusHead(t, q2, sk); r.status != 404 {
		t.Errorf("HEAD of the upload refused at the finish: %d", r.status)
	}
	if u := do(t, "GET", e.url+"/v1/storage/usage", sk, nil, nil); !strings.Contains(u.body, `"bytes":"750"`) {
		t.Errorf("usage after the quota race: %s", u.body)
	}

	// The uploads table is the tenant's, with row-level security enabled
	// and forced.
	var rls, forced bool
	if err := pool.QueryRow(t.Context(), `SELECT relrowsecurity, relforcerowsecurity FROM pg_catalog.pg_class WHERE oid = to_regclass($1)`,
		tenantdb.Table(ref, "_storage_uploads")).Scan(&rls, &forced); err != nil || !rls || !forced {
		t.Errorf("_storage_uploads: row security %v, forced %v, %v", rls, forced, err)
	}

	// Cancel: DELETE removes the upload and its parts.
	c = tusCreate(t, e, sk, 100, with("name", "cancel.txt"))
	loc = c.header.Get("Location")
	if r := tusPatch(t, loc, sk, 0, data[:50]); r.status != 204 {
		t.Fatalf("PATCH: %d %s", r.status, r.body)
	}
	if r := tusPatch(t, loc, sk, 0, data[:50]); r.status != 409 {
		t.Errorf("PATCH at a stale offset: %d %s", r.status, r.body)
	}
	if r := do(t, "DELETE", loc, sk, nil, map[string]string{"Tus-Resumable": "1.0.0"}); r.status != 204 {
		t.Errorf("DELETE: %d %s", r.status, r.body)
	}
	if r := tusHead(t, loc, sk); r.status != 404 {
		t.Errorf("HEAD after DELETE: %d", r.status)
	}
	if parts := e.blobKeys(t, ref, "uploads/"); len(parts) != 0 {
		t.Errorf("parts kept after DELETE: %v", parts)
	}
}

// TestTUSCORS: a browser may create, PATCH and HEAD uploads: preflights
// pass, and the answers expose Location and Upload-Offset.
func TestTUSCORS(t *testing.T) {
	t.Parallel()
	b, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e, _, _ := newTUSEnv(t, b, 0)
	_, sk, _ := e.tenant(t)
	const origin = "https://app.example.com"
	// Browsers send the requested headers lowercased and sorted.
	for _, m := range []string{"POST", "PATCH", "HEAD", "DELETE"} {
		r := do(t, "OPTIONS", e.url+storage.TUSPath+strings.Repeat("0", 32), "", nil, map[string]string{"Origin": origin,
			"Access-Control-Request-Method": m, "Access-Control-Request-Headers": "apikey,content-type,tus-resumable,upload-length,upload-metadata,upload-offset"})
		if r.status >= 300 || r.header.Get("Access-Control-Allow-Origin") == "" {
			t.Errorf("preflight of %s: %d %v", m, r.status, r.header)
		}
	}
	if r := do(t, "POST", e.url+"/v1/storage/buckets", sk, strings.NewReader(`{"name":"web"}`), nil); r.status != 201 {
		t.Fatalf("create bucket: %d %s", r.status, r.body)
	}
	r := do(t, "POST", e.url+storage.TUSPath, sk, nil, map[string]string{"Origin": origin, "Tus-Resumable": "1.0.0", "Upload-Length": "3",
		"Upload-Metadata": tusd.SerializeMetadataHeader(map[string]string{"bucket": "web", "name": "a.txt"})})
	exposed := strings.ToLower(r.header.Get("Access-Control-Expose-Headers"))
	if r.status != 201 || r.header.Get("Access-Control-Allow-Origin") == "" || !strings.Contains(exposed, "location") || !strings.Contains(exposed, "upload-offset") {
		t.Errorf("create from a browser: %d %v", r.status, r.header)
	}
}

package storage_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sovereign-backend/sovereign/dataplane/apikeys"
	"github.com/sovereign-backend/sovereign/dataplane/migrations"
	"github.com/sovereign-backend/sovereign/dataplane/storage"
	"github.com/sovereign-backend/sovereign/dataplane/storage/blob"
	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
	"github.com/sovereign-backend/sovereign/dataplane/tenants"
	"github.com/sovereign-backend/sovereign/internal/broker"
	"github.com/sovereign-backend/sovereign/internal/migrate"
	"github.com/sovereign-backend/sovereign/internal/testenv"
	"github.com/sovereign-backend/sovereign/internal/token"
)

func TestMain(m *testing.M) { testenv.Main(m) }

type env struct {
	url     string
	blobs   blob.Backend
	keys    *apikeys.Keys
	tenants *tenants.Store
}

func newEnv(t *testing.T, quota int64) *env {
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
	blobs, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	svc, err := storage.New(storage.Config{DB: tenantdb.New(pool), Blobs: blobs, SigningSecret: secret,
		QuotaBytes: func(context.Context, string) (int64, error) { return quota, nil }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	storage.NewREST(svc, keys, nil).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &env{url: srv.URL, blobs: blobs, keys: keys, tenants: ts}
}

func (e *env) tenant(t *testing.T) (ref, secret, publishable string) {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	ref = hex.EncodeToString(b)
	if _, err := e.tenants.Provision(t.Context(), tenants.ProvisionParams{Ref: ref}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), testenv.AdminURL(t))
		if err == nil {
			_, _ = conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{"t_" + ref}.Sanitize()+" CASCADE")
			_, _ = conn.Exec(context.Background(), "DROP ROLE IF EXISTS "+pgx.Identifier{"t_" + ref}.Sanitize())
			conn.Close(context.Background())
		}
	})
	mk := func(kind apikeys.Kind, prefix string) string {
		k := token.New(prefix)
		if err := e.keys.Put(t.Context(), []apikeys.Record{{ID: "key-" + hex.EncodeToString(b) + string(kind), TenantRef: ref, Kind: kind, Hash: token.Hash(k)}}); err != nil {
			t.Fatal(err)
		}
		return k
	}
	return ref, mk(apikeys.KindSecret, token.SecretKey), mk(apikeys.KindPublishable, token.PublishableKey)
}

type resp struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, method, url, key string, body io.Reader, hdr map[string]string) resp {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("apikey", key)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	// protojson varies its whitespace on purpose: compact JSON answers so
	// that tests can look for fragments.
	var c bytes.Buffer
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") && json.Compact(&c, b) == nil {
		b = c.Bytes()
	}
	return resp{res.StatusCode, res.Header, string(b)}
}

func (e *env) blobCount(t *testing.T, ref string) int {
	t.Helper()
	n := 0
	if err := e.blobs.List(t.Context(), ref, "", func(blob.Info) bool { n++; return true }); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestObjectsOverREST(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0)
	ref, sk, pk := e.tenant(t)
	_, otherSK, _ := e.tenant(t)
	u := e.url + "/v1/storage"
	if r := do(t, "POST", u+"/buckets", sk, strings.NewReader(`{"name":"docs","max_object_bytes":100,"allowed_content_types":["text/*"]}`), nil); r.status != 201 {
		t.Fatalf("create bucket: %d %s", r.status, r.body)
	}
	if r := do(t, "POST", u+"/buckets", "", strings.NewReader(`{"name":"nokey"}`), nil); r.status != 401 {
		t.Errorf("no key: %d", r.status)
	}
	if r := do(t, "POST", u+"/buckets", pk, strings.NewReader(`{"name":"pub"}`), nil); r.status != 403 {
		t.Errorf("publishable key creates a bucket: %d", r.status)
	}
	data := "hello, world"
	sum := sha256.Sum256([]byte(data))
	r := do(t, "PUT", u+"/objects/docs/a/b.txt", sk, strings.NewReader(data), map[string]string{"Content-Type": "text/plain", "X-Checksum-SHA256": hex.EncodeToString(sum[:]), "X-Meta-Owner": "me"})
	if r.status != 201 {
		t.Fatalf("put: %d %s", r.status, r.body)
	}
	etag := r.header.Get("ETag")
	got := do(t, "GET", u+"/objects/docs/a/b.txt", sk, nil, nil)
	if got.status != 200 || got.body != data || got.header.Get("X-Meta-Owner") != "me" || got.header.Get("Etag") != etag {
		t.Errorf("get: %d %q %v", got.status, got.body, got.header)
	}
	if g := do(t, "GET", u+"/objects/docs/a/b.txt", sk, nil, map[string]string{"Range": "bytes=0-4"}); g.status != 206 || g.body != "hello" {
		t.Errorf("range: %d %q", g.status, g.body)
	}
	if g := do(t, "GET", u+"/objects/docs/a/b.txt", sk, nil, map[string]string{"Range": "bytes=100-200"}); g.status != 416 {
		t.Errorf("unsatisfiable range: %d", g.status)
	}
	if g := do(t, "GET", u+"/objects/docs/a/b.txt", sk, nil, map[string]string{"If-None-Match": etag}); g.status != 304 {
		t.Errorf("If-None-Match: %d", g.status)
	}
	if g := do(t, "GET", u+"/objects/docs/a/b.txt", sk, nil, map[string]string{"If-Modified-Since": time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)}); g.status != 304 {
		t.Errorf("If-Modified-Since: %d", g.status)
	}
	if g := do(t, "GET", u+"/objects/docs/a/b.txt", sk, nil, map[string]string{"If-Match": `"nope"`}); g.status != 412 {
		t.Errorf("If-Match: %d", g.status)
	}
	if g := do(t, "PUT", u+"/objects/docs/a/b.txt", sk, strings.NewReader("x"), map[string]string{"Content-Type": "text/plain", "If-None-Match": "*"}); g.status != 412 {
		t.Errorf("If-None-Match: * on an existing object: %d %s", g.status, g.body)
	}
	if g := do(t, "GET", u+"/objects/docs/a/b.txt", otherSK, nil, nil); g.status != 404 {
		t.Errorf("another tenant's object: %d", g.status)
	}
	// The HTTP mux cleans "." and ".." out of paths before any handler
	// sees them; in JSON bodies they reach the name check.
	for _, name := range []string{"a/../b", "./x", "/abs", `a\u0000b`, `a\\b`, `\udc80`} {
		if g := do(t, "POST", u+"/buckets/docs/copy", sk, strings.NewReader(`{"name":"a/b.txt","destination_name":"`+name+`"}`), nil); g.status != 400 || !strings.Contains(g.body, "invalid_argument") {
			t.Errorf("destination name %q: %d %s", name, g.status, g.body)
		}
	}
	for _, name := range []string{"a%00b", "a%5Cb", "%FF", strings.Repeat("n", 1025)} {
		if g := do(t, "PUT", u+"/objects/docs/"+name, sk, strings.NewReader("x"), map[string]string{"Content-Type": "text/plain"}); g.status != 400 || !strings.Contains(g.body, "invalid_argument") {
			t.Errorf("name %.20q: %d %s", name, g.status, g.body)
		}
	}
	before := e.blobCount(t, ref)
	big := strings.Repeat("x", 101)
	if g := do(t, "PUT", u+"/objects/docs/big.txt", sk, strings.NewReader(big), map[string]string{"Content-Type": "text/plain"}); g.status != 413 {
		t.Errorf("over the bucket limit: %d %s", g.status, g.body)
	}
	// Without Content-Length: chunked.
	if g := do(t, "PUT", u+"/objects/docs/big.txt", sk, io.MultiReader(strings.NewReader(big)), map[string]string{"Content-Type": "text/plain"}); g.status != 413 {
		t.Errorf("chunked over the bucket limit: %d %s", g.status, g.body)
	}
	if g := do(t, "PUT", u+"/objects/docs/c.txt", sk, strings.NewReader(data), map[string]string{"Content-Type": "text/plain", "X-Checksum-SHA256": strings.Repeat("0", 64)}); g.status != 400 {
		t.Errorf("bad checksum: %d", g.status)
	}
	if g := do(t, "PUT", u+"/objects/docs/c.png", sk, strings.NewReader(data), map[string]string{"Content-Type": "image/png"}); g.status != 400 {
		t.Errorf("content type: %d", g.status)
	}
	if n := e.blobCount(t, ref); n != before {
		t.Errorf("refused uploads left blobs: %d, want %d", n, before)
	}
	// Signed URLs.
	s := do(t, "POST", u+"/buckets/docs/sign", sk, strings.NewReader(`{"name":"a/b.txt","method":"GET"}`), nil)
	var signed struct{ URL string }
	_ = json.Unmarshal([]byte(s.body), &signed)
	if s.status != 200 || signed.URL == "" {
		t.Fatalf("sign: %d %s", s.status, s.body)
	}
	if g := do(t, "GET", e.url+signed.URL, "", nil, nil); g.status != 200 || g.body != data {
		t.Errorf("signed GET: %d %s", g.status, g.body)
	}
	if g := do(t, "GET", e.url+strings.Replace(signed.URL, "b.txt", "c.txt", 1), "", nil, nil); g.status != 403 {
		t.Errorf("tampered signed URL: %d", g.status)
	}
	do(t, "POST", u+"/signing-key/rotate", sk, nil, nil)
	if g := do(t, "GET", e.url+signed.URL, "", nil, nil); g.status != 403 {
		t.Errorf("signed URL after rotation: %d", g.status)
	}
	// Lists, usage and delete.
	l := do(t, "GET", u+"/objects/docs?delimiter=/", sk, nil, nil)
	if l.status != 200 || !strings.Contains(l.body, `"prefixes":["a/"]`) {
		t.Errorf("list: %d %s", l.status, l.body)
	}
	if g := do(t, "GET", u+"/usage", sk, nil, nil); !strings.Contains(g.body, `"bytes":"12"`) {
		t.Errorf("usage: %s", g.body)
	}
	if g := do(t, "DELETE", u+"/buckets/docs", sk, nil, nil); g.status != 400 || !strings.Contains(g.body, "failed_precondition") {
		t.Errorf("delete non-empty bucket: %d %s", g.status, g.body)
	}
	if g := do(t, "DELETE", u+"/buckets/docs?force=true", sk, nil, nil); g.status != 200 {
		t.Errorf("force delete: %d %s", g.status, g.body)
	}
	if n := e.blobCount(t, ref); n != 0 {
		t.Errorf("%d blobs left after a forced bucket delete", n)
	}
}

func TestCheckObjectName(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", "..", "a/..", "./a", "/a", "a\x00", "a\\b", "\xff", "a\nb", strings.Repeat("x", storage.MaxNameLen+1)} {
		if storage.CheckObjectName(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	for _, good := range []string{"a", "a/b.txt", "a..b", ".hidden", "dir/", "ünïcode", strings.Repeat("x", storage.MaxNameLen)} {
		if err := storage.CheckObjectName(good); err != nil {
			t.Errorf("%q: %v", good, err)
		}
	}
}

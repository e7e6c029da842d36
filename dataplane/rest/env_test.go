package rest_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sovereign-backend/sovereign/dataplane/apikeys"
	"github.com/sovereign-backend/sovereign/dataplane/keyauth"
	"github.com/sovereign-backend/sovereign/dataplane/migrations"
	"github.com/sovereign-backend/sovereign/dataplane/rest"
	"github.com/sovereign-backend/sovereign/dataplane/tenants"
	"github.com/sovereign-backend/sovereign/internal/broker"
	"github.com/sovereign-backend/sovereign/internal/httpserver"
	"github.com/sovereign-backend/sovereign/internal/migrate"
	"github.com/sovereign-backend/sovereign/internal/testenv"
	"github.com/sovereign-backend/sovereign/internal/token"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// region is a data plane region's database with its migrations applied, a
// key store and a tenant store on it; tenant roles (cluster-wide) are
// dropped when the test ends.
type region struct {
	pool    *pgxpool.Pool
	keys    *apikeys.Keys
	tenants *tenants.Store

	mu   sync.Mutex
	refs []string
}

func newRegion(t *testing.T) *region {
	t.Helper()
	r := &region{}
	adminURL := testenv.AdminURL(t)
	// Registered before the database, so it runs after the database is
	// dropped.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, adminURL)
		if err != nil {
			t.Errorf("drop tenant roles: %v", err)
			return
		}
		defer conn.Close(ctx)
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, ref := range r.refs {
			if _, err := conn.Exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{tenants.SchemaName(ref)}.Sanitize()); err != nil {
				t.Errorf("drop role of %s: %v", ref, err)
			}
		}
	})
	pool, err := pgxpool.New(t.Context(), testenv.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	r.pool = pool
	if _, err := migrate.Up(t.Context(), pool, migrate.Config{Schema: "dataplane", FS: migrations.FS, Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	r.keys, err = apikeys.New(apikeys.Config{Pool: pool, Broker: broker.NewMemory(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.keys.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	for deadline := time.Now().Add(10 * time.Second); !r.keys.Live(); {
		if time.Now().After(deadline) {
			t.Fatal("the key cache never subscribed to invalidations")
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.tenants, err = tenants.New(tenants.Config{Pool: pool, Changed: r.keys.TenantChanged})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// tenant provisions a fresh tenant.
func (r *region) tenant(t *testing.T) string {
	t.Helper()
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	ref := string(b)
	r.mu.Lock()
	r.refs = append(r.refs, ref)
	r.mu.Unlock()
	if _, err := r.tenants.Provision(t.Context(), tenants.ProvisionParams{Ref: ref}); err != nil {
		t.Fatal(err)
	}
	return ref
}

// key makes a key of kind for ref.
func (r *region) key(t *testing.T, ref string, kind apikeys.Kind) string {
	t.Helper()
	prefix := token.SecretKey
	if kind == apikeys.KindPublishable {
		prefix = token.PublishableKey
	}
	k := token.New(prefix)
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	rec := apikeys.Record{ID: "key-" + hex.EncodeToString(id), TenantRef: ref, Kind: kind, Hash: token.Hash(k)}
	if err := r.keys.Put(t.Context(), []apikeys.Record{rec}); err != nil {
		t.Fatal(err)
	}
	return k
}

// server serves the REST API over col and rec, and the same handlers over
// Connect behind keyauth's interceptor, all behind CORS and the platform's
// HTTP middleware, as a data plane node mounts them.
func (r *region) server(t *testing.T, col dataplanev1connect.CollectionServiceHandler, rec dataplanev1connect.RecordServiceHandler, cfg rest.Config) string {
	t.Helper()
	cfg.Collections, cfg.Records, cfg.Keys = col, rec, r.keys
	api, err := rest.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.Register(mux)
	opts := connect.WithInterceptors(keyauth.NewInterceptor(r.keys))
	mux.Handle(dataplanev1connect.NewCollectionServiceHandler(col, opts))
	mux.Handle(dataplanev1connect.NewRecordServiceHandler(rec, opts))
	// CORS covers every route, Connect's too: the node's mux holds
	// everything under "/" behind it.
	root := http.NewServeMux()
	root.Handle("/", rest.CORS(rest.CORSConfig{}, mux))
	srv := httptest.NewServer(httpserver.Handler(httpserver.Config{
		Registry:     httpserver.NewRegistry(),
		Logger:       slog.New(slog.DiscardHandler),
		MaxBodyBytes: 64 << 20,
	}, root))
	t.Cleanup(srv.Close)
	return srv.URL
}

// answer is an HTTP response with its body read.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into a generic value.
func (a answer) json(t *testing.T) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(a.body, &v); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", a.body, err)
	}
	return v
}

func send(t *testing.T, method, url string, header http.Header, body string) answer {
	t.Helper()
	got, err := trySend(t.Context(), method, url, header, body)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// trySend is send for goroutines other than the test's, which must not
// call t.Fatal.
func trySend(ctx context.Context, method, url string, header http.Header, body string) (answer, error) {
	var rd io.Reader
	if body != "" {
		rd = bytes.NewBufferString(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return answer{}, err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

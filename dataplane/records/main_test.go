package records_test

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/sovereign-backend/sovereign/dataplane/apikeys"
	"github.com/sovereign-backend/sovereign/dataplane/keyauth"
	"github.com/sovereign-backend/sovereign/dataplane/migrations"
	"github.com/sovereign-backend/sovereign/dataplane/records"
	"github.com/sovereign-backend/sovereign/dataplane/schema"
	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
	"github.com/sovereign-backend/sovereign/dataplane/tenants"
	"github.com/sovereign-backend/sovereign/internal/broker"
	"github.com/sovereign-backend/sovereign/internal/idempotency"
	"github.com/sovereign-backend/sovereign/internal/migrate"
	"github.com/sovereign-backend/sovereign/internal/testenv"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// Test headers that the test interceptor turns into the caller's API key
// identity, standing in for keyauth's real interceptor.
const (
	tenantHeader = "X-Test-Tenant"
	kindHeader   = "X-Test-Key-Kind"
)

// env is one test's region database with a tenant, the records service
// over it, and a Connect client of its handler.
type env struct {
	t      *testing.T
	pool   *pgxpool.Pool
	db     *tenantdb.DB
	schema *schema.Store
	svc    *records.Service
	client dataplanev1connect.RecordServiceClient
	// ref is the tenant most tests use; other is a second tenant of the
	// same database.
	ref, other string
}

// testInterceptor authenticates as the tenant in tenantHeader with a
// secret key (or the kind in kindHeader); no header, no identity.
type testInterceptor struct{}

func (testInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if ref := req.Header().Get(tenantHeader); ref != "" {
			kind := apikeys.KindSecret
			if k := req.Header().Get(kindHeader); k != "" {
				kind = apikeys.Kind(k)
			}
			ctx = keyauth.NewContext(ctx, apikeys.Identity{TenantRef: ref, KeyID: "key-" + ref, Kind: kind})
		}
		return next(ctx, req)
	}
}

func (testInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (testInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// newRef returns a random 12-character tenant ref and drops its role when
// the test is over (roles are shared by the cluster's databases). Call it
// before the database is made: cleanups run last first.
func newRef(t *testing.T) string {
	t.Helper()
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	ref := string(b)
	adminURL := testenv.AdminURL(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, adminURL)
		if err != nil {
			t.Errorf("connect: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{tenants.SchemaName(ref)}.Sanitize()); err != nil {
			t.Errorf("drop role: %v", err)
		}
	})
	return ref
}

// newEnv makes a migrated database, provisions two tenants in it and
// serves the handler.
func newEnv(t *testing.T, opts ...func(*records.Config)) *env {
	t.Helper()
	ref, other := newRef(t), newRef(t)
	pool := testenv.Pool(t)
	if _, err := migrate.Up(t.Context(), pool, migrate.Config{Schema: "dataplane", FS: migrations.FS, Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	db := tenantdb.New(pool)
	st, err := schema.NewStore(schema.StoreConfig{DB: db, Broker: broker.NewMemory(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	cfg := records.Config{DB: db, Schema: st}
	for _, o := range opts {
		o(&cfg)
	}
	svc, err := records.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	idem := idempotency.New(idempotency.Config{Pool: pool, Table: pgx.Identifier{"dataplane", "idempotency_keys"}})
	mux := http.NewServeMux()
	mux.Handle(dataplanev1connect.NewRecordServiceHandler(records.NewHandler(svc, idem), connect.WithInterceptors(testInterceptor{})))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	e := &env{t: t, pool: pool, db: db, schema: st, svc: svc, ref: ref, other: other,
		client: dataplanev1connect.NewRecordServiceClient(srv.Client(), srv.URL)}
	e.provision(ref)
	e.provision(other)
	return e
}

func (e *env) provision(ref string) {
	e.t.Helper()
	ts, err := tenants.New(tenants.Config{Pool: e.pool})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := ts.Provision(e.t.Context(), tenants.ProvisionParams{Ref: ref}); err != nil {
		e.t.Fatal(err)
	}
}

func identity(ref string) tenantdb.Identity {
	return tenantdb.Identity{TenantRef: ref, Role: tenantdb.RoleService, KeyID: "key-" + ref}
}

// collection creates c for tenant ref through the schema store.
func (e *env) collection(ref string, c schema.Collection) {
	e.t.Helper()
	if _, err := e.schema.Create(e.t.Context(), identity(ref), c); err != nil {
		e.t.Fatalf("create collection %s: %v", c.Name, err)
	}
}

// standard creates the collections most tests use: authors, and posts with
// one field of every type.
func (e *env) standard(ref string) {
	e.t.Helper()
	e.collection(ref, schema.Collection{Name: "authors", Fields: []schema.Field{
		{Name: "name", Type: schema.Text, Required: true},
		{Name: "email", Type: schema.Text, Unique: true},
	}})
	e.collection(ref, schema.Collection{Name: "posts", Fields: []schema.Field{
		{Name: "title", Type: schema.Text, Required: true},
		{Name: "n", Type: schema.Integer},
		{Name: "score", Type: schema.Number},
		{Name: "published", Type: schema.Boolean},
		{Name: "at", Type: schema.Timestamp},
		{Name: "meta", Type: schema.JSON},
		{Name: "author", Type: schema.Relation, Collection: "authors"},
		{Name: "emb", Type: schema.Vector, Dimensions: 3},
		{Name: "attachment", Type: schema.File},
		{Name: "status", Type: schema.Text, Default: "draft"},
		{Name: "slug", Type: schema.Text, Unique: true},
	}})
}

// req builds a request as tenant ref.
func req[T any](ref string, msg *T) *connect.Request[T] {
	r := connect.NewRequest(msg)
	r.Header().Set(tenantHeader, ref)
	return r
}

func mustStruct(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// codeOf is err's Connect code, or 0 for nil.
func codeOf(err error) connect.Code {
	if err == nil {
		return 0
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Code()
	}
	return connect.CodeUnknown
}

func messageOf(err error) string {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Message()
	}
	if err == nil {
		return ""
	}
	return err.Error()
}

// count is the number of rows in a tenant's table, read as the superuser.
func (e *env) count(ref, table string) int {
	e.t.Helper()
	var n int
	if err := e.pool.QueryRow(e.t.Context(), "SELECT count(*) FROM "+tenantdb.Table(ref, table)).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

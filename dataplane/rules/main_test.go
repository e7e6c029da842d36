package rules_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/sovereign-backend/sovereign/dataplane/apikeys"
	"github.com/sovereign-backend/sovereign/dataplane/caller"
	"github.com/sovereign-backend/sovereign/dataplane/keyauth"
	"github.com/sovereign-backend/sovereign/dataplane/records"
	"github.com/sovereign-backend/sovereign/dataplane/rules"
	"github.com/sovereign-backend/sovereign/dataplane/rules/rulesrpc"
	"github.com/sovereign-backend/sovereign/dataplane/schema"
	"github.com/sovereign-backend/sovereign/dataplane/schema/schematest"
	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
	"github.com/sovereign-backend/sovereign/internal/broker"
	"github.com/sovereign-backend/sovereign/internal/testenv"
	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// Test headers that the test interceptor turns into the caller: the API
// key's tenant and kind, and a signed-in user, standing in for keyauth's
// interceptor and the auth interceptor.
const (
	tenantHeader = "X-Test-Tenant"
	kindHeader   = "X-Test-Key-Kind"
	userHeader   = "X-Test-User"
	roleHeader   = "X-Test-Role"
	aalHeader    = "X-Test-Aal"
	claimsHeader = "X-Test-Claims"
)

type testInterceptor struct{}

func (testInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		h := req.Header()
		if ref := h.Get(tenantHeader); ref != "" {
			ctx = keyauth.NewContext(ctx, apikeys.Identity{TenantRef: ref, KeyID: "key-" + ref, Kind: apikeys.Kind(h.Get(kindHeader))})
		}
		if uid := h.Get(userHeader); uid != "" {
			ctx = caller.WithUser(ctx, caller.User{ID: uid, Role: h.Get(roleHeader), AAL: h.Get(aalHeader), Claims: h.Get(claimsHeader)})
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

// env is a tenant in a migrated region database, with the schema store,
// the records and rules services over it, and Connect clients of their
// handlers.
type env struct {
	t       *testing.T
	db      *schematest.Database
	schema  *schema.Store
	records *records.Service
	rules   *rules.Service
	svc     tenantdb.Identity // the tenant's service role
	rulesC  dataplanev1connect.RulesServiceClient
	recC    dataplanev1connect.RecordServiceClient
}

func newEnv(t *testing.T) *env {
	t.Helper()
	_, db := schematest.New(t)
	st, err := schema.NewStore(schema.StoreConfig{DB: db.DB, Broker: broker.NewMemory(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := records.New(records.Config{DB: db.DB, Schema: st})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := rules.New(rules.Config{Schema: st})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	opts := connect.WithInterceptors(testInterceptor{})
	mux.Handle(dataplanev1connect.NewRulesServiceHandler(rulesrpc.NewHandler(rs), opts))
	mux.Handle(dataplanev1connect.NewRecordServiceHandler(records.NewHandler(rec, nil), opts))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &env{t: t, db: db, schema: st, records: rec, rules: rs, svc: db.Tenant(t),
		rulesC: dataplanev1connect.NewRulesServiceClient(srv.Client(), srv.URL),
		recC:   dataplanev1connect.NewRecordServiceClient(srv.Client(), srv.URL)}
}

// collection creates c as the service role.
func (e *env) collection(c schema.Collection) {
	e.t.Helper()
	if _, err := e.schema.Create(e.t.Context(), e.svc, c); err != nil {
		e.t.Fatalf("create collection %s: %v", c.Name, err)
	}
}

// setRules sets a collection's rules as the service role.
func (e *env) setRules(name string, set rules.Set) {
	e.t.Helper()
	if _, err := e.rules.Set(e.t.Context(), e.svc, name, set); err != nil {
		e.t.Fatalf("set rules of %s: %v", name, err)
	}
}

// create writes a record as the service role and returns its id.
func (e *env) create(collection string, rec map[string]any) string {
	e.t.Helper()
	r, err := e.records.Create(e.t.Context(), e.svc, records.CreateParams{Collection: collection, Record: rec})
	if err != nil {
		e.t.Fatalf("create in %s: %v", collection, err)
	}
	return r["id"].(string)
}

// Callers of the tenant.
func (e *env) anon() tenantdb.Identity {
	return tenantdb.Identity{TenantRef: e.svc.TenantRef, Role: tenantdb.RoleAnon, KeyID: "pk"}
}

func (e *env) user(uid string) tenantdb.Identity {
	return tenantdb.Identity{TenantRef: e.svc.TenantRef, Role: tenantdb.RoleAuthenticated, KeyID: "pk",
		UserID: uid, AuthRole: tenantdb.RoleAuthenticated, AAL: "aal1", Claims: "{}"}
}

// who is a caller over Connect: a key kind and, maybe, a user.
type who struct {
	kind   apikeys.Kind
	user   string
	role   string
	aal    string
	claims string
}

var (
	secret = who{kind: apikeys.KindSecret}
	anon   = who{kind: apikeys.KindPublishable}
)

func userWho(uid string) who { return who{kind: apikeys.KindPublishable, user: uid, aal: "aal1"} }

// req builds a Connect request of the tenant as w.
func req[T any](e *env, w who, msg *T) *connect.Request[T] {
	r := connect.NewRequest(msg)
	r.Header().Set(tenantHeader, e.svc.TenantRef)
	r.Header().Set(kindHeader, string(w.kind))
	if w.user != "" {
		r.Header().Set(userHeader, w.user)
		r.Header().Set(roleHeader, w.role)
		r.Header().Set(aalHeader, w.aal)
		r.Header().Set(claimsHeader, w.claims)
	}
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

// check compares err with the expected code (0: success) and message
// fragments.
func check(t *testing.T, name string, err error, code connect.Code, want ...string) {
	t.Helper()
	if code == 0 {
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
		return
	}
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != code {
		t.Errorf("%s: error %v, want code %v", name, err, code)
		return
	}
	for _, w := range want {
		if !strings.Contains(ce.Message(), w) {
			t.Errorf("%s: message %q lacks %q", name, ce.Message(), w)
		}
	}
}

// kindOf is err's records.Kind, 0 for nil, and fails the test for an
// error that is not a *records.Error.
func kindOf(t *testing.T, err error) records.Kind {
	t.Helper()
	if err == nil {
		return 0
	}
	var re *records.Error
	if !errors.As(err, &re) {
		t.Fatalf("error %v is not a *records.Error", err)
	}
	return re.Kind
}

func ptr(s string) *string { return &s }

func exampleRules() *dataplanev1.Rules {
	return &dataplanev1.Rules{
		List:   ptr("auth.uid != ''"),
		View:   ptr("record.owner == auth.uid"),
		Create: ptr("auth.uid != ''"),
		Update: ptr("record.owner == auth.uid"),
		Delete: ptr("false"),
	}
}

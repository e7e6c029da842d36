package admin_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sovereign-backend/sovereign/dataplane/admin"
	"github.com/sovereign-backend/sovereign/dataplane/apikeys"
	"github.com/sovereign-backend/sovereign/dataplane/migrations"
	"github.com/sovereign-backend/sovereign/dataplane/tenants"
	"github.com/sovereign-backend/sovereign/internal/broker"
	"github.com/sovereign-backend/sovereign/internal/migrate"
	"github.com/sovereign-backend/sovereign/internal/testenv"
	"github.com/sovereign-backend/sovereign/internal/token"
	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const secret = "region-secret-for-tests"

// env is one data plane node's AdminService over httptest, on a fresh
// database and a Valkey broker of its own.
type env struct {
	pool   *pgxpool.Pool
	client dataplanev1connect.AdminServiceClient
	url    string

	mu   sync.Mutex
	refs []string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{}
	// Tenant roles are cluster-wide and outlive the test's database: drop
	// them after it (cleanups run last-registered first, so this one runs
	// after testenv has dropped the database).
	adminURL := testenv.AdminURL(t)
	t.Cleanup(func() { dropRoles(t, adminURL, e.allRefs()) })
	e.pool = testenv.Pool(t)
	ctx := t.Context()
	if _, err := migrate.Up(ctx, e.pool, migrate.Config{Schema: "dataplane", FS: migrations.FS, Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	b, err := broker.NewValkey(ctx, broker.ValkeyConfig{URL: testenv.ValkeyURL(t), Prefix: testenv.KeyPrefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	keys, err := apikeys.New(apikeys.Config{Pool: e.pool, Broker: b})
	if err != nil {
		t.Fatal(err)
	}
	store, err := tenants.New(tenants.Config{Pool: e.pool, Changed: keys.TenantChanged})
	if err != nil {
		t.Fatal(err)
	}
	h, err := admin.New(admin.Config{Tenants: store, Keys: keys, RegionSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(h.Route())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	e.url = srv.URL
	e.client = dataplanev1connect.NewAdminServiceClient(srv.Client(), srv.URL)
	return e
}

func (e *env) allRefs() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.refs...)
}

// newRef returns a random ref, to be dropped with the test. Refs are random
// because roles are shared by every database of the cluster.
func (e *env) newRef() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.refs = append(e.refs, string(b))
	return string(b)
}

func dropRoles(t *testing.T, adminURL string, refs []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		t.Errorf("drop tenant roles: %v", err)
		return
	}
	defer conn.Close(ctx)
	for _, ref := range refs {
		if _, err := conn.Exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{tenants.SchemaName(ref)}.Sanitize()); err != nil {
			t.Errorf("drop role of tenant %s: %v", ref, err)
		}
	}
}

func authed[T any](msg *T) *connect.Request[T] {
	req := connect.NewRequest(msg)
	req.Header().Set("Authorization", "Bearer "+secret)
	return req
}

// given brings a fresh tenant ref into state (empty: not provisioned).
func (e *env) given(t *testing.T, state tenants.State) string {
	t.Helper()
	ref := e.newRef()
	if state == "" {
		return ref
	}
	ctx := t.Context()
	if _, err := e.client.ProvisionTenant(ctx, authed(&dataplanev1.ProvisionTenantRequest{
		Ref: ref, Limits: &dataplanev1.TenantLimits{Plan: "free", RequestsPerSecond: 10},
	})); err != nil {
		t.Fatalf("provision: %v", err)
	}
	set := func(s dataplanev1.TenantState) {
		if _, err := e.client.SetTenantState(ctx, authed(&dataplanev1.SetTenantStateRequest{Ref: ref, State: s})); err != nil {
			t.Fatalf("set state %v: %v", s, err)
		}
	}
	switch state {
	case tenants.StatePaused:
		set(dataplanev1.TenantState_TENANT_STATE_PAUSED)
	case tenants.StateDeleting:
		set(dataplanev1.TenantState_TENANT_STATE_DELETING)
	case tenants.StateDeleted:
		set(dataplanev1.TenantState_TENANT_STATE_DELETING)
		if _, err := e.client.PurgeTenant(ctx, authed(&dataplanev1.PurgeTenantRequest{Ref: ref})); err != nil {
			t.Fatalf("purge: %v", err)
		}
	}
	return ref
}

// putKey stores a fresh key for ref and returns its record.
func (e *env) putKey(t *testing.T, ref string) *dataplanev1.ApiKeyRecord {
	t.Helper()
	rec := &dataplanev1.ApiKeyRecord{Id: "key_" + e.newRef(), TenantRef: ref, Kind: "secret", Hash: token.Hash(token.New(token.SecretKey))}
	if _, err := e.client.PutApiKeys(t.Context(), authed(&dataplanev1.PutApiKeysRequest{Keys: []*dataplanev1.ApiKeyRecord{rec}})); err != nil {
		t.Fatalf("put key: %v", err)
	}
	return rec
}

// Facts about a tenant in the database, for side-effect checks.
type facts struct {
	state        string // "" when there is no row
	limits       tenants.Limits
	schemaOwner  string // "" when there is no schema
	roleExists   bool
	roleCanLogin bool
	publicUsage  bool // PUBLIC may use the schema
	memberOfRole bool // the pool's user may SET ROLE to the tenant role
	keys         int
}

func (e *env) facts(t *testing.T, ref string) facts {
	t.Helper()
	ctx := t.Context()
	var f facts
	name := tenants.SchemaName(ref)
	row := e.pool.QueryRow(ctx, `
SELECT coalesce((SELECT state FROM dataplane.tenants WHERE ref = $1), ''),
       coalesce((SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = $2), ''),
       EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $2),
       coalesce((SELECT rolcanlogin FROM pg_roles WHERE rolname = $2), false),
       coalesce((SELECT has_schema_privilege('public', $2, 'USAGE') FROM pg_namespace WHERE nspname = $2), false),
       coalesce((SELECT pg_has_role(current_user, $2, 'MEMBER') FROM pg_roles WHERE rolname = $2), false),
       (SELECT count(*) FROM dataplane.api_keys WHERE tenant_ref = $1)`, ref, name)
	if err := row.Scan(&f.state, &f.schemaOwner, &f.roleExists, &f.roleCanLogin, &f.publicUsage, &f.memberOfRole, &f.keys); err != nil {
		t.Fatalf("facts: %v", err)
	}
	if f.state != "" {
		store, err := tenants.New(tenants.Config{Pool: e.pool})
		if err != nil {
			t.Fatal(err)
		}
		tn, err := store.Get(ctx, ref)
		if err != nil {
			t.Fatalf("get tenant: %v", err)
		}
		f.limits = tn.Limits
	}
	return f
}

// provisioned checks the layout DESIGN.md asks of a live tenant.
func (f facts) provisioned(t *testing.T, ref, state string) {
	t.Helper()
	name := tenants.SchemaName(ref)
	if f.state != state || f.schemaOwner != name || !f.roleExists || f.roleCanLogin || f.publicUsage || !f.memberOfRole {
		t.Errorf("tenant %s: got %+v; want state %s, schema %s owned by role %s (NOLOGIN), no PUBLIC usage, pool user a member", ref, f, state, name, name)
	}
}

func (f facts) purged(t *testing.T, ref string) {
	t.Helper()
	if f.state != "deleted" || f.schemaOwner != "" || f.roleExists || f.keys != 0 {
		t.Errorf("tenant %s after purge: got %+v; want state deleted, no schema, no role, no keys", ref, f)
	}
}

// scenario is one AdminService call and what it must do.
type scenario struct {
	name string
	// given is the tenant's state before the call; "" leaves it
	// unprovisioned.
	given tenants.State
	// header is the Authorization header; "-" sends none; "" the right one.
	header string
	call   func(ctx context.Context, c dataplanev1connect.AdminServiceClient, ref string, header http.Header) error
	// code is the expected error code; 0 means success.
	code connect.Code
	// msg must appear in the error message.
	msg string
	// check inspects side effects.
	check func(t *testing.T, e *env, ref string, f facts)
}

func provision(limits *dataplanev1.TenantLimits) func(context.Context, dataplanev1connect.AdminServiceClient, string, http.Header) error {
	return provisionRef("", limits)
}

func provisionRef(ref string, limits *dataplanev1.TenantLimits) func(context.Context, dataplanev1connect.AdminServiceClient, string, http.Header) error {
	return func(ctx context.Context, c dataplanev1connect.AdminServiceClient, given string, h http.Header) error {
		req := connect.NewRequest(&dataplanev1.ProvisionTenantRequest{Ref: cmpOr(ref, given), Limits: limits})
		copyHeader(req.Header(), h)
		resp, err := c.ProvisionTenant(ctx, req)
		if err != nil {
			return err
		}
		if want := tenants.SchemaName(cmpOr(ref, given)); resp.Msg.GetSchema() != want {
			return fmt.Errorf("schema %q, want %q", resp.Msg.GetSchema(), want)
		}
		return nil
	}
}

func setState(ref string, s dataplanev1.TenantState) func(context.Context, dataplanev1connect.AdminServiceClient, string, http.Header) error {
	return func(ctx context.Context, c dataplanev1connect.AdminServiceClient, given string, h http.Header) error {
		req := connect.NewRequest(&dataplanev1.SetTenantStateRequest{Ref: cmpOr(ref, given), State: s})
		copyHeader(req.Header(), h)
		_, err := c.SetTenantState(ctx, req)
		return err
	}
}

func purge(ref string) func(context.Context, dataplanev1connect.AdminServiceClient, string, http.Header) error {
	return func(ctx context.Context, c dataplanev1connect.AdminServiceClient, given string, h http.Header) error {
		req := connect.NewRequest(&dataplanev1.PurgeTenantRequest{Ref: cmpOr(ref, given)})
		copyHeader(req.Header(), h)
		_, err := c.PurgeTenant(ctx, req)
		return err
	}
}

// putKeys sends records; a record's TenantRef "" becomes the given ref,
// and a non-empty id is prefixed with the given ref: key ids are unique
// across tenants, and the scenarios run in parallel, so two scenarios'
// "k1" must not meet.
func putKeys(records ...*dataplanev1.ApiKeyRecord) func(context.Context, dataplanev1connect.AdminServiceClient, string, http.Header) error {
	return func(ctx context.Context, c dataplanev1connect.AdminServiceClient, given string, h http.Header) error {
		for _, r := range records {
			if r.TenantRef == "" {
				r.TenantRef = given
			}
			if r.Id != "" {
				r.Id = given + "-" + r.Id
			}
		}
		req := connect.NewRequest(&dataplanev1.PutApiKeysRequest{Keys: records})
		copyHeader(req.Header(), h)
		_, err := c.PutApiKeys(ctx, req)
		return err
	}
}

func copyHeader(dst, src http.Header) {
	for k, v := range src {
		dst[k] = v
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func newHash() string { return token.Hash(token.New(token.PublishableKey)) }

func record(id, kind, hash string) *dataplanev1.ApiKeyRecord {
	return &dataplanev1.ApiKeyRecord{Id: id, Kind: kind, Hash: hash}
}

func TestAdminService(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	free := &dataplanev1.TenantLimits{Plan: "free", RequestsPerSecond: 10}
	pro := &dataplanev1.TenantLimits{Plan: "pro", RequestsPerSecond: 100, DatabaseBytes: 1 << 30, StorageBytes: 1 << 32, RealtimeConnections: 500}
	wantLimits := func(want tenants.Limits) func(*testing.T, *env, string, facts) {
		return func(t *testing.T, _ *env, _ string, f facts) {
			if f.limits != want {
				t.Errorf("limits %+v, want %+v", f.limits, want)
			}
		}
	}
	stateIs := func(state string) func(*testing.T, *env, string, facts) {
		return func(t *testing.T, _ *env, ref string, f facts) { f.provisioned(t, ref, state) }
	}
	nothing := func(t *testing.T, _ *env, ref string, f facts) {
		if f.state != "" || f.schemaOwner != "" || f.roleExists {
			t.Errorf("tenant %s: got %+v; want nothing created", ref, f)
		}
	}
	noKeys := func(t *testing.T, _ *env, ref string, f facts) {
		if f.keys != 0 {
			t.Errorf("tenant %s has %d keys, want none written", ref, f.keys)
		}
	}
	dupHash := newHash()

	scenarios := []scenario{
		// The region secret.
		{name: "no secret", header: "-", call: provision(free), code: connect.CodeUnauthenticated, msg: "missing region secret", check: nothing},
		{name: "wrong secret", header: "Bearer not-the-secret", call: provision(free), code: connect.CodeUnauthenticated, msg: "wrong region secret", check: nothing},
		{name: "secret with another scheme", header: "Basic " + secret, call: provision(free), code: connect.CodeUnauthenticated, msg: "missing region secret", check: nothing},
		{name: "empty bearer", header: "Bearer ", call: setState("", dataplanev1.TenantState_TENANT_STATE_PAUSED), given: tenants.StateActive, code: connect.CodeUnauthenticated, check: stateIs("active")},
		{name: "wrong secret cannot purge", header: "Bearer x" + secret, given: tenants.StateDeleting, call: purge(""), code: connect.CodeUnauthenticated, check: stateIs("deleting")},
		{name: "wrong secret cannot put keys", header: "Bearer " + secret + "x", given: tenants.StateActive, call: putKeys(record("k1", "secret", newHash())), code: connect.CodeUnauthenticated, check: noKeys},
		{name: "lower-case bearer scheme", header: "bearer " + secret, call: provision(free), check: stateIs("active")},

		// ProvisionTenant.
		{name: "provision", call: provision(pro), check: func(t *testing.T, e *env, ref string, f facts) {
			f.provisioned(t, ref, "active")
			wantLimits(tenants.Limits{Plan: "pro", RequestsPerSecond: 100, DatabaseBytes: 1 << 30, StorageBytes: 1 << 32, RealtimeConnections: 500})(t, e, ref, f)
		}},
		{name: "provision without limits", call: provision(nil), check: wantLimits(tenants.Limits{})},
		{name: "provision again updates limits", given: tenants.StateActive, call: provision(pro), check: func(t *testing.T, e *env, ref string, f facts) {
			f.provisioned(t, ref, "active")
			wantLimits(tenants.Limits{Plan: "pro", RequestsPerSecond: 100, DatabaseBytes: 1 << 30, StorageBytes: 1 << 32, RealtimeConnections: 500})(t, e, ref, f)
		}},
		{name: "provision a paused tenant keeps it paused", given: tenants.StatePaused, call: provision(pro), check: stateIs("paused")},
		{name: "provision a deleting tenant", given: tenants.StateDeleting, call: provision(pro), code: connect.CodeFailedPrecondition, msg: "is deleting", check: stateIs("deleting")},
		{name: "provision a deleted tenant", given: tenants.StateDeleted, call: provision(pro), code: connect.CodeFailedPrecondition, msg: "is deleted", check: func(t *testing.T, _ *env, ref string, f facts) { f.purged(t, ref) }},
		{name: "provision upper-case ref", call: provisionRef("ABCDEFGHIJKL", free), code: connect.CodeInvalidArgument, msg: "ref: must be"},
		{name: "provision ref with a dash", call: provisionRef("abc-defghijk", free), code: connect.CodeInvalidArgument, msg: "ref: must be"},
		{name: "provision empty ref", call: func(ctx context.Context, c dataplanev1connect.AdminServiceClient, _ string, h http.Header) error {
			req := connect.NewRequest(&dataplanev1.ProvisionTenantRequest{Limits: free})
			copyHeader(req.Header(), h)
			_, err := c.ProvisionTenant(ctx, req)
			return err
		}, code: connect.CodeInvalidArgument, msg: "ref: must be"},
		{name: "provision short ref", call: provisionRef("abc", free), code: connect.CodeInvalidArgument, msg: "ref: must be"},
		{name: "provision long ref", call: provisionRef(strings.Repeat("a", 33), free), code: connect.CodeInvalidArgument, msg: "ref: must be"},
		{name: "provision ref with a quote", call: provisionRef(`abc"; DROP SCHEMA dataplane; --`, free), code: connect.CodeInvalidArgument, msg: "ref: must be"},
		{name: "provision negative rate", call: provision(&dataplanev1.TenantLimits{RequestsPerSecond: -1}), code: connect.CodeInvalidArgument, msg: "limits.requests_per_second", check: nothing},
		{name: "provision negative database size", call: provision(&dataplanev1.TenantLimits{DatabaseBytes: -1}), code: connect.CodeInvalidArgument, msg: "limits.database_bytes", check: nothing},
		{name: "provision negative storage", call: provision(&dataplanev1.TenantLimits{StorageBytes: -1}), code: connect.CodeInvalidArgument, msg: "limits.storage_bytes", check: nothing},
		{name: "provision negative connections", call: provision(&dataplanev1.TenantLimits{RealtimeConnections: -5}), code: connect.CodeInvalidArgument, msg: "limits.realtime_connections", check: nothing},
		{name: "provision long plan name", call: provision(&dataplanev1.TenantLimits{Plan: strings.Repeat("p", 65)}), code: connect.CodeInvalidArgument, msg: "limits.plan", check: nothing},

		// SetTenantState.
		{name: "pause", given: tenants.StateActive, call: setState("", dataplanev1.TenantState_TENANT_STATE_PAUSED), check: stateIs("paused")},
		{name: "resume", given: tenants.StatePaused, call: setState("", dataplanev1.TenantState_TENANT_STATE_ACTIVE), check: stateIs("active")},
		{name: "activate an active tenant", given: tenants.StateActive, call: setState("", dataplanev1.TenantState_TENANT_STATE_ACTIVE), check: stateIs("active")},
		{name: "pause a paused tenant", given: tenants.StatePaused, call: setState("", dataplanev1.TenantState_TENANT_STATE_PAUSED), check: stateIs("paused")},
		{name: "delete an active tenant", given: tenants.StateActive, call: setState("", dataplanev1.TenantState_TENANT_STATE_DELETING), check: stateIs("deleting")},
		{name: "delete a paused tenant", given: tenants.StatePaused, call: setState("", dataplanev1.TenantState_TENANT_STATE_DELETING), check: stateIs("deleting")},
		{name: "delete a deleting tenant", given: tenants.StateDeleting, call: setState("", dataplanev1.TenantState_TENANT_STATE_DELETING), check: stateIs("deleting")},
		{name: "resume a deleting tenant", given: tenants.StateDeleting, call: setState("", dataplanev1.TenantState_TENANT_STATE_ACTIVE), code: connect.CodeFailedPrecondition, msg: "is deleting: it cannot become active", check: stateIs("deleting")},
		{name: "pause a deleting tenant", given: tenants.StateDeleting, call: setState("", dataplanev1.TenantState_TENANT_STATE_PAUSED), code: connect.CodeFailedPrecondition, msg: "can only be purged", check: stateIs("deleting")},
		{name: "delete a deleted tenant again", given: tenants.StateDeleted, call: setState("", dataplanev1.TenantState_TENANT_STATE_DELETING), check: func(t *testing.T, _ *env, ref string, f facts) { f.purged(t, ref) }},
		{name: "resume a deleted tenant", given: tenants.StateDeleted, call: setState("", dataplanev1.TenantState_TENANT_STATE_ACTIVE), code: connect.CodeFailedPrecondition, msg: "is deleted", check: func(t *testing.T, _ *env, ref string, f facts) { f.purged(t, ref) }},
		{name: "set state of an unknown tenant", call: setState("", dataplanev1.TenantState_TENANT_STATE_PAUSED), code: connect.CodeNotFound, msg: "not provisioned in this region", check: nothing},
		{name: "set state unspecified", given: tenants.StateActive, call: setState("", dataplanev1.TenantState_TENANT_STATE_UNSPECIFIED), code: connect.CodeInvalidArgument, msg: "state: must be", check: stateIs("active")},
		{name: "set state out of range", given: tenants.StateActive, call: setState("", dataplanev1.TenantState(42)), code: connect.CodeInvalidArgument, msg: "state: must be", check: stateIs("active")},
		{name: "set state deleted", given: tenants.StateDeleting, call: setState("", dataplanev1.TenantState_TENANT_STATE_DELETED), code: connect.CodeInvalidArgument, msg: "PurgeTenant", check: stateIs("deleting")},
		{name: "set state with a bad ref", call: setState("Bad-Ref", dataplanev1.TenantState_TENANT_STATE_PAUSED), code: connect.CodeInvalidArgument, msg: "ref: must be"},

		// PurgeTenant.
		{name: "purge", given: tenants.StateDeleting, call: func(ctx context.Context, c dataplanev1connect.AdminServiceClient, ref string, h http.Header) error {
			return purge("")(ctx, c, ref, h)
		}, check: func(t *testing.T, _ *env, ref string, f facts) { f.purged(t, ref) }},
		{name: "purge a deleted tenant again", given: tenants.StateDeleted, call: purge(""), check: func(t *testing.T, _ *env, ref string, f facts) { f.purged(t, ref) }},
		{name: "purge an active tenant", given: tenants.StateActive, call: purge(""), code: connect.CodeFailedPrecondition, msg: "set it to deleting before purging it", check: stateIs("active")},
		{name: "purge a paused tenant", given: tenants.StatePaused, call: purge(""), code: connect.CodeFailedPrecondition, msg: "is paused", check: stateIs("paused")},
		{name: "purge an unknown tenant", call: purge(""), code: connect.CodeNotFound, msg: "not provisioned in this region", check: nothing},
		{name: "purge with a bad ref", call: purge("a_b"), code: connect.CodeInvalidArgument, msg: "ref: must be"},

		// PutApiKeys.
		{name: "put keys", given: tenants.StateActive, call: putKeys(record("k1", "secret", newHash()), record("k2", "publishable", newHash())), check: func(t *testing.T, _ *env, ref string, f facts) {
			if f.keys != 2 {
				t.Errorf("%d keys stored, want 2", f.keys)
			}
		}},
		{name: "put no keys", call: putKeys()},
		{name: "put a key with a bad hash", given: tenants.StateActive, call: putKeys(record("k1", "secret", "abc")), code: connect.CodeInvalidArgument, msg: "keys[0].hash", check: noKeys},
		{name: "put a key with an upper-case hash", given: tenants.StateActive, call: putKeys(record("k1", "secret", strings.ToUpper(newHash()))), code: connect.CodeInvalidArgument, msg: "keys[0].hash", check: noKeys},
		{name: "put a key with a bad kind", given: tenants.StateActive, call: putKeys(record("k1", "admin", newHash())), code: connect.CodeInvalidArgument, msg: "keys[0].kind", check: noKeys},
		{name: "put a key without id", given: tenants.StateActive, call: putKeys(record("", "secret", newHash())), code: connect.CodeInvalidArgument, msg: "keys[0].id", check: noKeys},
		{name: "put a key with a bad tenant ref", call: putKeys(&dataplanev1.ApiKeyRecord{Id: "k1", TenantRef: "NOPE", Kind: "secret", Hash: newHash()}), code: connect.CodeInvalidArgument, msg: "keys[0].tenant_ref"},
		{name: "put a key of an unknown tenant", call: putKeys(record("k1", "secret", newHash())), code: connect.CodeNotFound, msg: "keys[0].tenant_ref", check: nothing},
		{name: "put a batch with one bad record writes none", given: tenants.StateActive, call: putKeys(record("k1", "secret", newHash()), record("k2", "secret", "zz")), code: connect.CodeInvalidArgument, msg: "keys[1].hash", check: noKeys},
		{name: "put a batch with a conflict writes none", given: tenants.StateActive, call: putKeys(record("k1", "secret", dupHash), record("k2", "secret", dupHash)), code: connect.CodeAlreadyExists, msg: "keys[1].hash", check: noKeys},
		{name: "put a key with a bad expiry", given: tenants.StateActive, call: putKeys(&dataplanev1.ApiKeyRecord{Id: "k1", Kind: "secret", Hash: newHash(), ExpiresAt: &timestamppb.Timestamp{Nanos: -1}}), code: connect.CodeInvalidArgument, msg: "keys[0].expires_at", check: noKeys},
		{name: "put a key with a bad revocation time", given: tenants.StateActive, call: putKeys(&dataplanev1.ApiKeyRecord{Id: "k1", Kind: "secret", Hash: newHash(), RevokedAt: &timestamppb.Timestamp{Seconds: 1 << 62}}), code: connect.CodeInvalidArgument, msg: "keys[0].revoked_at", check: noKeys},
		{name: "put too many keys", given: tenants.StateActive, call: func(ctx context.Context, c dataplanev1connect.AdminServiceClient, ref string, h http.Header) error {
			recs := make([]*dataplanev1.ApiKeyRecord, apikeys.MaxRecordsPerPut+1)
			for i := range recs {
				recs[i] = record(fmt.Sprint("k", i), "secret", newHash())
			}
			return putKeys(recs...)(ctx, c, ref, h)
		}, code: connect.CodeInvalidArgument, msg: "at most 1000", check: noKeys},
	}

	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			ref := e.given(t, sc.given)
			h := http.Header{}
			switch sc.header {
			case "":
				h.Set("Authorization", "Bearer "+secret)
			case "-":
			default:
				h.Set("Authorization", sc.header)
			}
			err := sc.call(t.Context(), e.client, ref, h)
			switch {
			case sc.code == 0 && err != nil:
				t.Fatalf("got error %v, want success", err)
			case sc.code != 0 && connect.CodeOf(err) != sc.code:
				t.Fatalf("got %v, want code %v", err, sc.code)
			case sc.code != 0 && !strings.Contains(err.Error(), sc.msg):
				t.Fatalf("got %q, want it to mention %q", err, sc.msg)
			}
			if sc.check != nil {
				sc.check(t, e, ref, e.facts(t, ref))
			}
		})
	}
}

// Keys are updated in place; a revocation is final, so a stale retry of an
// earlier Put cannot bring a revoked key back, and an id never changes hash.
func TestPutApiKeysUpdates(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	ref := e.given(t, tenants.StateActive)
	rec := e.putKey(t, ref)

	revoked := time.Now().Add(-time.Minute).UTC().Truncate(time.Microsecond)
	expires := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	put := func(r *dataplanev1.ApiKeyRecord) error {
		_, err := e.client.PutApiKeys(ctx, authed(&dataplanev1.PutApiKeysRequest{Keys: []*dataplanev1.ApiKeyRecord{r}}))
		return err
	}
	stored := func() (exp, rev *time.Time) {
		t.Helper()
		if err := e.pool.QueryRow(ctx, "SELECT expires_at, revoked_at FROM dataplane.api_keys WHERE id = $1", rec.Id).Scan(&exp, &rev); err != nil {
			t.Fatal(err)
		}
		return exp, rev
	}

	revoke := &dataplanev1.ApiKeyRecord{Id: rec.Id, TenantRef: ref, Kind: rec.Kind, Hash: rec.Hash,
		ExpiresAt: timestamppb.New(expires), RevokedAt: timestamppb.New(revoked)}
	if err := put(revoke); err != nil {
		t.Fatal(err)
	}
	if exp, rev := stored(); exp == nil || !exp.Equal(expires) || rev == nil || !rev.Equal(revoked) {
		t.Fatalf("stored expires %v revoked %v, want %v and %v", exp, rev, expires, revoked)
	}
	// The stale retry, then a later revocation time: neither changes it.
	for _, r := range []*dataplanev1.ApiKeyRecord{rec, {Id: rec.Id, TenantRef: ref, Kind: rec.Kind, Hash: rec.Hash, RevokedAt: timestamppb.Now()}} {
		if err := put(r); err != nil {
			t.Fatal(err)
		}
		if _, rev := stored(); rev == nil || !rev.Equal(revoked) {
			t.Fatalf("revocation became %v after a later put, want it to stay %v", rev, revoked)
		}
	}
	// The same id with another hash, tenant or kind is refused.
	other := e.given(t, tenants.StateActive)
	for _, r := range []*dataplanev1.ApiKeyRecord{
		{Id: rec.Id, TenantRef: ref, Kind: rec.Kind, Hash: newHash()},
		{Id: rec.Id, TenantRef: other, Kind: rec.Kind, Hash: rec.Hash},
		{Id: rec.Id, TenantRef: ref, Kind: "publishable", Hash: rec.Hash},
	} {
		if err := put(r); connect.CodeOf(err) != connect.CodeAlreadyExists || !strings.Contains(err.Error(), "keys[0].id") {
			t.Errorf("put %v: got %v, want AlreadyExists naming keys[0].id", r, err)
		}
	}
}

// Two control-plane retries, or many, provisioning one tenant at once all
// succeed and leave one tenant with one schema and role.
func TestProvisionConcurrently(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ref := e.newRef()
	const calls = 8
	errs := make([]error, calls)
	var wg sync.WaitGroup
	for i := range calls {
		wg.Go(func() {
			_, errs[i] = e.client.ProvisionTenant(t.Context(), authed(&dataplanev1.ProvisionTenantRequest{
				Ref: ref, Limits: &dataplanev1.TenantLimits{Plan: "free", RequestsPerSecond: int32(i)},
			}))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("call %d: %v", i, err)
		}
	}
	e.facts(t, ref).provisioned(t, ref, "active")
	var rows int
	if err := e.pool.QueryRow(t.Context(), "SELECT count(*) FROM dataplane.tenants WHERE ref = $1", ref).Scan(&rows); err != nil || rows != 1 {
		t.Errorf("%d tenant rows (%v), want 1", rows, err)
	}
}

// A tenant goes through its whole life: the role and schema exist while it
// lives and are gone after the purge, with its keys.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	ref := e.given(t, tenants.StateActive)
	e.putKey(t, ref)
	e.facts(t, ref).provisioned(t, ref, "active")
	// The tenant's role can own tables in its schema: create one as it.
	if err := pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
		name := pgx.Identifier{tenants.SchemaName(ref)}.Sanitize()
		if _, err := tx.Exec(ctx, "SET LOCAL ROLE "+name); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "CREATE TABLE "+name+".posts (id bigint PRIMARY KEY)")
		return err
	}); err != nil {
		t.Fatalf("create a table as the tenant role: %v", err)
	}
	for _, s := range []dataplanev1.TenantState{dataplanev1.TenantState_TENANT_STATE_PAUSED, dataplanev1.TenantState_TENANT_STATE_DELETING} {
		if _, err := e.client.SetTenantState(ctx, authed(&dataplanev1.SetTenantStateRequest{Ref: ref, State: s})); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.client.PurgeTenant(ctx, authed(&dataplanev1.PurgeTenantRequest{Ref: ref})); err != nil {
		t.Fatal(err)
	}
	e.facts(t, ref).purged(t, ref)
}

// A database that fails answers Internal with nothing but a request id, not
// the driver's words.
func TestInternalErrorsLeakNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.pool.Close()
	_, err := e.client.ProvisionTenant(t.Context(), authed(&dataplanev1.ProvisionTenantRequest{Ref: e.newRef()}))
	if connect.CodeOf(err) != connect.CodeInternal || strings.Contains(err.Error(), "pool") || strings.Contains(err.Error(), "closed") {
		t.Fatalf("got %v, want a bare Internal error", err)
	}
}

func TestNewRefusesIncompleteConfig(t *testing.T) {
	t.Parallel()
	if _, err := admin.New(admin.Config{}); err == nil {
		t.Error("New accepted a config without stores or secret")
	}
}

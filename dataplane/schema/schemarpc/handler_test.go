package schemarpc_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/sovereign-backend/sovereign/dataplane/apikeys"
	"github.com/sovereign-backend/sovereign/dataplane/keyauth"
	"github.com/sovereign-backend/sovereign/dataplane/schema"
	"github.com/sovereign-backend/sovereign/dataplane/schema/schemarpc"
	"github.com/sovereign-backend/sovereign/dataplane/schema/schematest"
	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
	"github.com/sovereign-backend/sovereign/internal/broker"
	"github.com/sovereign-backend/sovereign/internal/testenv"
	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// Test headers that the fake key interceptor turns into a key identity, in
// place of keyauth's real one (tested in its own package).
const (
	hdrTenant = "X-Test-Tenant"
	hdrKind   = "X-Test-Kind"
)

func fakeKeyAuth() connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if ref := req.Header().Get(hdrTenant); ref != "" {
				kind := apikeys.Kind(req.Header().Get(hdrKind))
				if kind == "" {
					kind = apikeys.KindSecret
				}
				ctx = keyauth.NewContext(ctx, apikeys.Identity{TenantRef: ref, KeyID: "key_" + ref, Kind: kind})
			}
			return next(ctx, req)
		}
	}
}

// server is one data-plane node serving CollectionService on one region
// database.
type server struct {
	d   *schematest.Database
	url string
}

func newServer(t *testing.T) *server {
	t.Helper()
	_, d := schematest.New(t)
	store, err := schema.NewStore(schema.StoreConfig{DB: d.DB, Broker: broker.NewMemory(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { store.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	mux := http.NewServeMux()
	mux.Handle(dataplanev1connect.NewCollectionServiceHandler(schemarpc.NewHandler(store), connect.WithInterceptors(fakeKeyAuth())))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &server{d: d, url: srv.URL}
}

// tenant is a provisioned tenant with a client that calls as its secret
// key (or as kind).
type tenant struct {
	id  tenantdb.Identity
	c   dataplanev1connect.CollectionServiceClient
	srv *server
	// before is posts as describe saw it after a scenario's setup.
	before []string
}

func (s *server) tenant(t *testing.T) *tenant {
	t.Helper()
	id := s.d.Tenant(t)
	return &tenant{id: id, c: s.client(id.TenantRef, ""), srv: s}
}

func (s *server) client(ref string, kind apikeys.Kind) dataplanev1connect.CollectionServiceClient {
	setHeaders := connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if ref != "" {
				req.Header().Set(hdrTenant, ref)
			}
			if kind != "" {
				req.Header().Set(hdrKind, string(kind))
			}
			return next(ctx, req)
		}
	})
	return dataplanev1connect.NewCollectionServiceClient(http.DefaultClient, s.url, connect.WithInterceptors(setHeaders))
}

func (tn *tenant) create(t *testing.T, c *dataplanev1.Collection) *dataplanev1.Collection {
	t.Helper()
	resp, err := tn.c.CreateCollection(t.Context(), connect.NewRequest(&dataplanev1.CreateCollectionRequest{Collection: c}))
	if err != nil {
		t.Fatalf("create %s: %v", c.GetName(), err)
	}
	return resp.Msg.GetCollection()
}

func (tn *tenant) alter(ctx context.Context, name string, ops ...*dataplanev1.AlterOp) error {
	_, err := tn.c.AlterCollection(ctx, connect.NewRequest(&dataplanev1.AlterCollectionRequest{Name: name, Ops: ops}))
	return err
}

// exec runs sql in the tenant's schema as its service role.
func (tn *tenant) exec(t *testing.T, sql string) {
	t.Helper()
	err := tn.srv.d.DB.Tx(t.Context(), tn.id, tenantdb.TxOptions{}, func(q tenantdb.Querier) error {
		_, err := q.Exec(t.Context(), sql)
		return err
	})
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func (tn *tenant) table(name string) string { return tenantdb.Table(tn.id.TenantRef, name) }

// describe lists what the tenant's schema holds for table: "column name
// type nullable default", "constraint def", "index def", "rls on forced",
// "policy name", sorted.
func (tn *tenant) describe(t *testing.T, table string) []string {
	t.Helper()
	rows, err := tn.srv.d.Pool.Query(t.Context(), `
SELECT format('column %s %s %s %s', column_name, data_type, is_nullable, coalesce(column_default, ''))
FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2
UNION ALL
SELECT format('constraint %s', pg_get_constraintdef(k.oid)) FROM pg_constraint k
WHERE k.conrelid = to_regclass(format('%I.%I', $1, $2))
UNION ALL
SELECT format('index %s', indexdef) FROM pg_indexes WHERE schemaname = $1 AND tablename = $2
UNION ALL
SELECT format('rls %s %s', relrowsecurity, relforcerowsecurity) FROM pg_class WHERE oid = to_regclass(format('%I.%I', $1, $2))
UNION ALL
SELECT format('policy %s %s %s', policyname, qual, with_check) FROM pg_policies WHERE schemaname = $1 AND tablename = $2
ORDER BY 1`, tenantdb.Schema(tn.id.TenantRef), table)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (tn *tenant) history(t *testing.T) []*dataplanev1.SchemaChange {
	t.Helper()
	resp, err := tn.c.ListSchemaChanges(t.Context(), connect.NewRequest(&dataplanev1.ListSchemaChangesRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	return resp.Msg.GetChanges()
}

func val(t *testing.T, v any) *structpb.Value {
	t.Helper()
	pv, err := structpb.NewValue(v)
	if err != nil {
		t.Fatal(err)
	}
	return pv
}

func field(name, typ string) *dataplanev1.Field { return &dataplanev1.Field{Name: name, Type: typ} }

func postsDef(t *testing.T) *dataplanev1.Collection {
	return &dataplanev1.Collection{
		Name: "posts",
		Fields: []*dataplanev1.Field{
			{Name: "title", Type: "text", Required: true},
			{Name: "slug", Type: "text", Unique: true},
			{Name: "views", Type: "integer", Default: val(t, 0)},
			{Name: "status", Type: "text", Default: val(t, "draft")},
			{Name: "meta", Type: "json", Default: val(t, map[string]any{"a": 1})},
		},
		Indexes: []*dataplanev1.Index{{Fields: []string{"views", "created_at"}}},
	}
}

func addField(f *dataplanev1.Field) *dataplanev1.AlterOp {
	return &dataplanev1.AlterOp{Op: &dataplanev1.AlterOp_AddField{AddField: f}}
}

func has(lines []string, prefix string) bool {
	return slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, prefix) })
}

type scenario struct {
	name string
	// setup prepares the tenant before the call.
	setup func(t *testing.T, tn *tenant)
	// call is the request under test.
	call func(ctx context.Context, tn *tenant) error
	// code is the wanted error code; 0 wants success.
	code connect.Code
	// msg are fragments the error message must hold.
	msg []string
	// check looks at the effects (or their absence).
	check func(t *testing.T, tn *tenant)
}

func create(c *dataplanev1.Collection) func(ctx context.Context, tn *tenant) error {
	return func(ctx context.Context, tn *tenant) error {
		_, err := tn.c.CreateCollection(ctx, connect.NewRequest(&dataplanev1.CreateCollectionRequest{Collection: c}))
		return err
	}
}

func createPosts(t *testing.T, tn *tenant) { tn.create(t, postsDef(t)) }

// withRecords makes posts with two records: one without a slug and views 1,
// the other likewise.
func withRecords(t *testing.T, tn *tenant) {
	createPosts(t, tn)
	tn.exec(t, "INSERT INTO "+tn.table("posts")+" (id, title, views) VALUES (gen_random_uuid(), 'a', 1), (gen_random_uuid(), 'b', 1)")
}

// unchanged checks that posts is as the scenario's setup left it, with
// one history entry.
func unchanged(t *testing.T, tn *tenant) {
	t.Helper()
	if lines := tn.describe(t, "posts"); len(lines) == 0 || !slices.Equal(lines, tn.before) {
		t.Errorf("posts changed:\n%q\n%q", lines, tn.before)
	}
	if h := tn.history(t); len(h) != 1 {
		t.Errorf("history has %d entries, want 1", len(h))
	}
}

func TestCollectionService(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	scenarios := []scenario{
		{
			name: "create",
			call: create(postsDef(t)),
			check: func(t *testing.T, tn *tenant) {
				lines := tn.describe(t, "posts")
				for _, want := range []string{
					"column id uuid NO",
					"column created_at timestamp with time zone NO now()",
					"column updated_at timestamp with time zone NO now()",
					"column version bigint NO 1",
					"column title text NO ",
					"column slug text YES ",
					"column views bigint YES 0",
					"column status text YES 'draft'::text",
					`column meta jsonb YES '{"a": 1}'::jsonb`,
					"constraint PRIMARY KEY (id)",
					"constraint UNIQUE (slug)",
					"index CREATE INDEX posts_views_created_at_idx ON " + tenantdb.Schema(tn.id.TenantRef) + ".posts USING btree (views, created_at)",
					"rls t t",
					"policy service_all (current_setting('sovereign.role'::text, true) = 'service'::text) (current_setting('sovereign.role'::text, true) = 'service'::text)",
				} {
					if !has(lines, want) {
						t.Errorf("posts lacks %q: %q", want, lines)
					}
				}
				h := tn.history(t)
				if len(h) != 1 || h[0].GetKind() != "create" || !strings.Contains(h[0].GetDescription(), "title (text, required)") ||
					!strings.Contains(h[0].GetSql(), "CREATE TABLE") || !strings.Contains(h[0].GetSql(), "FORCE ROW LEVEL SECURITY") {
					t.Errorf("history %v", h)
				}
			},
		},
		{
			name: "create returns the definition",
			call: func(ctx context.Context, tn *tenant) error {
				resp, err := tn.c.CreateCollection(ctx, connect.NewRequest(&dataplanev1.CreateCollectionRequest{Collection: postsDef(t)}))
				if err != nil {
					return err
				}
				c := resp.Msg.GetCollection()
				if c.GetName() != "posts" || len(c.GetFields()) != 5 || c.GetFields()[2].GetDefault().GetNumberValue() != 0 ||
					c.GetFields()[4].GetDefault().GetStructValue().GetFields()["a"].GetNumberValue() != 1 ||
					c.GetIndexes()[0].GetName() != "posts_views_created_at_idx" || c.GetCreatedAt().AsTime().IsZero() {
					return errors.New("unexpected definition: " + c.String())
				}
				return nil
			},
		},
		{
			name: "create relations, vector and file",
			setup: func(t *testing.T, tn *tenant) {
				tn.create(t, &dataplanev1.Collection{Name: "authors", Fields: []*dataplanev1.Field{field("name", "text")}})
			},
			call: create(&dataplanev1.Collection{Name: "books", Fields: []*dataplanev1.Field{
				{Name: "author", Type: "relation", Collection: "authors", Required: true},
				{Name: "sequel", Type: "relation", Collection: "books"},
				{Name: "embedding", Type: "vector", Dimensions: 4},
				{Name: "cover", Type: "file"},
			}}),
			check: func(t *testing.T, tn *tenant) {
				lines := tn.describe(t, "books")
				ref := tenantdb.Schema(tn.id.TenantRef)
				for _, want := range []string{
					"column author uuid NO",
					"constraint FOREIGN KEY (author) REFERENCES " + ref + ".authors(id) ON DELETE SET NULL",
					"constraint FOREIGN KEY (sequel) REFERENCES " + ref + ".books(id) ON DELETE SET NULL",
					"column embedding ARRAY YES",
					"constraint CHECK ((array_length(embedding, 1) = 4))",
					"column cover text YES",
				} {
					if !has(lines, want) {
						t.Errorf("books lacks %q: %q", want, lines)
					}
				}
			},
		},
		{name: "create without collection", call: create(nil), code: connect.CodeInvalidArgument, msg: []string{"collection: required"}},
		{name: "create reserved name", call: create(&dataplanev1.Collection{Name: "records"}), code: connect.CodeInvalidArgument,
			msg: []string{"name: ", `"records" is reserved`}},
		{name: "create invalid name", call: create(&dataplanev1.Collection{Name: "My Posts"}), code: connect.CodeInvalidArgument,
			msg: []string{"name: invalid collection name", "lowercase letters"}},
		{name: "create pg_ name", call: create(&dataplanev1.Collection{Name: "pg_posts"}), code: connect.CodeInvalidArgument, msg: []string{`"pg_"`}},
		{name: "create bad type", call: create(&dataplanev1.Collection{Name: "posts", Fields: []*dataplanev1.Field{field("a", "text"), field("b", "text"), field("c", "txt")}}),
			code: connect.CodeInvalidArgument, msg: []string{`fields[2].type: unknown type "txt"; use one of text, integer, number`}},
		{name: "create bad default", call: create(&dataplanev1.Collection{Name: "posts", Fields: []*dataplanev1.Field{{Name: "n", Type: "integer", Default: val(t, "ten")}}}),
			code: connect.CodeInvalidArgument, msg: []string{"fields[0].default: the default of an integer field must be a number, got a string"}},
		{name: "create integer default out of range", call: create(&dataplanev1.Collection{Name: "posts", Fields: []*dataplanev1.Field{{Name: "n", Type: "integer", Default: val(t, 1e16)}}}),
			code: connect.CodeInvalidArgument, msg: []string{"fields[0].default", "9007199254740991"}},
		{name: "create timestamp default", call: create(&dataplanev1.Collection{Name: "posts", Fields: []*dataplanev1.Field{{Name: "at", Type: "timestamp", Default: val(t, "May 1st")}}}),
			code: connect.CodeInvalidArgument, msg: []string{"fields[0].default", "RFC 3339"}},
		{name: "create duplicate field", call: create(&dataplanev1.Collection{Name: "posts", Fields: []*dataplanev1.Field{field("a", "text"), field("a", "integer")}}),
			code: connect.CodeInvalidArgument, msg: []string{`fields[1].name: duplicate field "a"`}},
		{name: "create system field", call: create(&dataplanev1.Collection{Name: "posts", Fields: []*dataplanev1.Field{field("created_at", "timestamp")}}),
			code: connect.CodeInvalidArgument, msg: []string{"fields[0].name", "system fields"}},
		{name: "create unique json", call: create(&dataplanev1.Collection{Name: "posts", Fields: []*dataplanev1.Field{{Name: "j", Type: "json", Unique: true}}}),
			code: connect.CodeInvalidArgument, msg: []string{"fields[0].unique: json fields cannot be unique"}},
		{name: "create vector without dimensions", call: create(&dataplanev1.Collection{Name: "posts", Fields: []*dataplanev1.Field{field("v", "vector")}}),
			code: connect.CodeInvalidArgument, msg: []string{"fields[0].dimensions"}},
		{name: "create unknown relation target", call: create(&dataplanev1.Collection{Name: "posts", Fields: []*dataplanev1.Field{{Name: "author", Type: "relation", Collection: "people"}}}),
			code: connect.CodeNotFound, msg: []string{`fields[0].collection: no collection "people"`},
			check: func(t *testing.T, tn *tenant) {
				if lines := tn.describe(t, "posts"); len(lines) != 0 {
					t.Errorf("posts was made: %q", lines)
				}
			}},
		{name: "create index on unknown field", call: create(&dataplanev1.Collection{Name: "posts", Indexes: []*dataplanev1.Index{{Fields: []string{"nope"}}}}),
			code: connect.CodeInvalidArgument, msg: []string{`indexes[0].fields[0]: collection posts has no field "nope"`}},
		{name: "create duplicate collection", setup: createPosts, call: create(postsDef(t)), code: connect.CodeAlreadyExists, msg: []string{"posts"},
			check: unchanged},
		{
			name: "get", setup: createPosts,
			call: func(ctx context.Context, tn *tenant) error {
				resp, err := tn.c.GetCollection(ctx, connect.NewRequest(&dataplanev1.GetCollectionRequest{Name: "posts"}))
				if err != nil {
					return err
				}
				if f := resp.Msg.GetCollection().GetFields(); len(f) != 5 || f[0].GetName() != "title" || !f[0].GetRequired() || f[3].GetDefault().GetStringValue() != "draft" {
					return errors.New("unexpected definition: " + resp.Msg.String())
				}
				return nil
			},
		},
		{name: "get unknown", call: func(ctx context.Context, tn *tenant) error {
			_, err := tn.c.GetCollection(ctx, connect.NewRequest(&dataplanev1.GetCollectionRequest{Name: "posts"}))
			return err
		}, code: connect.CodeNotFound, msg: []string{"collection not found: posts"}},
		{name: "get invalid name", call: func(ctx context.Context, tn *tenant) error {
			_, err := tn.c.GetCollection(ctx, connect.NewRequest(&dataplanev1.GetCollectionRequest{Name: "_collections"}))
			return err
		}, code: connect.CodeInvalidArgument, msg: []string{"name: invalid collection name"}},
		{
			name: "list",
			setup: func(t *testing.T, tn *tenant) {
				createPosts(t, tn)
				tn.create(t, &dataplanev1.Collection{Name: "authors"})
			},
			call: func(ctx context.Context, tn *tenant) error {
				resp, err := tn.c.ListCollections(ctx, connect.NewRequest(&dataplanev1.ListCollectionsRequest{}))
				if err != nil {
					return err
				}
				var names []string
				for _, c := range resp.Msg.GetCollections() {
					names = append(names, c.GetName())
				}
				if !slices.Equal(names, []string{"authors", "posts"}) {
					return errors.New("listed " + strings.Join(names, ","))
				}
				return nil
			},
		},
		{
			name: "alter every op", setup: withRecords,
			call: func(ctx context.Context, tn *tenant) error {
				return tn.alter(ctx, "posts",
					addField(&dataplanev1.Field{Name: "body", Type: "text", Required: true, Default: val(t, "")}),
					&dataplanev1.AlterOp{Op: &dataplanev1.AlterOp_RenameField{RenameField: &dataplanev1.RenameField{From: "status", To: "state"}}},
					&dataplanev1.AlterOp{Op: &dataplanev1.AlterOp_SetDefault{SetDefault: &dataplanev1.SetDefault{Field: "state", Default: val(t, "new")}}},
					&dataplanev1.AlterOp{Op: &dataplanev1.AlterOp_SetDefault{SetDefault: &dataplanev1.SetDefault{Field: "meta"}}},
					&dataplanev1.AlterOp{Op: &dataplanev1.AlterOp_SetRequired{SetRequired: &dataplanev1.SetRequired{Field: "title", Required: false}}},
					&dataplanev1.AlterOp{Op: &dataplanev1.AlterOp_SetUnique{SetUnique: &dataplanev1.SetUnique{Field: "slug", Unique: false}}},
					&dataplanev1.AlterOp{Op: &dataplanev1.AlterOp_AddIndex{AddIndex: &dataplanev1.Index{Name: "by_state", Fields: []string{"state", "id"}, Unique: true}}},
					&dataplanev1.AlterOp{Op: &dataplanev1.AlterOp_DropIndex{DropIndex: "posts_views_created_at_idx"}},
					&dataplanev1.AlterOp{Op: &dataplanev1.AlterOp_DropField{DropField: "views"}},
				)
			},
			check: func(t *testing.T, tn *tenant) {
				lines := tn.describe(t, "posts")
				for _, want := range []string{"column body text NO ''::text", "column state text YES 'new'::text", "column meta jsonb YES \n", "column title text YES",
					"index CREATE UNIQUE INDEX by_state"} {
					if !has(lines, strings.TrimSuffix(want, "\n")) {
						t.Errorf("posts lacks %q: %q", want, lines)
					}
				}
				for _, gone := range []string{"column views", "column status", "constraint UNIQUE (slug)", "index CREATE INDEX posts_views"} {
					if has(lines, gone) {
						t.Errorf("posts still has %q: %q", gone, lines)
					}
				}
				h := tn.history(t)
				var desc []string
				for _, c := range h[1:] {
					desc = append(desc, c.GetDescription())
				}
				want := []string{
					`add field body (text, required, default "")`,
					"rename field status to state",
					`set the default of field state to "new"`,
					"remove the default of field meta",
					"make field title optional",
					"let field slug repeat values (not unique)",
					"add unique index by_state on (state, id)",
					"drop index posts_views_created_at_idx",
					"drop field views and its values",
				}
				if !slices.Equal(desc, want) {
					t.Errorf("history %q, want %q", desc, want)
				}
				resp, err := tn.c.GetCollection(t.Context(), connect.NewRequest(&dataplanev1.GetCollectionRequest{Name: "posts"}))
				if err != nil {
					t.Fatal(err)
				}
				var names []string
				for _, f := range resp.Msg.GetCollection().GetFields() {
					names = append(names, f.GetName())
				}
				if !slices.Equal(names, []string{"title", "slug", "state", "meta", "body"}) {
					t.Errorf("fields %q", names)
				}
			},
		},
		{name: "alter unknown collection", call: func(ctx context.Context, tn *tenant) error {
			return tn.alter(ctx, "posts", addField(field("a", "text")))
		}, code: connect.CodeNotFound},
		{name: "alter without ops", setup: createPosts, call: func(ctx context.Context, tn *tenant) error {
			return tn.alter(ctx, "posts")
		}, code: connect.CodeInvalidArgument, msg: []string{"ops: give at least one change"}},
		{name: "alter empty op", setup: createPosts, call: func(ctx context.Context, tn *tenant) error {
			return tn.alter(ctx, "posts", &dataplanev1.AlterOp{})
		}, code: connect.CodeInvalidArgument, msg: []string{"ops[0]: set exactly one change"}},
		{name: "alter empty drop_field", setup: createPosts, call: func(ctx context.Context, tn *tenant) error {
			return tn.alter(ctx, "posts", &dataplanev1.AlterOp{Op: &dataplanev1.AlterOp_DropField{}})
		}, code: connect.CodeInvalidArgument, msg: []string{"ops[0].drop_field: name the field"}},
		{name: "alter add existing field", setup: createPosts, call: func(ctx context.Context, tn *tenant) error {
			return tn.alter(ctx, "posts", addField(field("title", "text")))
		}, code: connect.CodeInvalidArgument, msg: []string{`ops[0].add_field.name: collection posts already has a field "title"`}, check: unchanged},
		{name: "alter add relation to unknown", setup: createPosts, call: func(ctx context.Context, tn *tenant) error {
			return tn.alter(ctx, "posts", addField(&dataplanev1.Field{Name: "author", Type: "relation", Collection: "people"}))
		}, code: connect.CodeNotFound, msg: []string{"ops[0].add_field.collection"}, check: unchanged},
		{name: "alter drop system field", setup: createPosts, call: func(ctx context.Context, tn *tenant) error {
			return tn.alter(ctx, "posts", &dataplanev1.AlterOp{Op: &dataplanev1.AlterOp_DropField{DropField: "id"}})
		}, code: connect.CodeInvalidArgument, msg: []string{"ops[0].drop_field: id is a system field"}, check: unchanged},
		{name: "alter required without default on records", setup: withRecords, call: func(ctx context.Context, tn *tenant) error {
			return tn.alter(ctx, "posts", addField(&dataplanev1.Field{Name: "extra", Type: "text", Required: true}))
		}, code: connect.CodeFailedPrecondition, msg: []string{"ops[0].add_field: collection posts has records, so required field extra needs a default"}, check: unchanged},
		{name: "alter required without default, empty", setup: createPosts, call: func(ctx context.Context, tn *tenant) error {
			return tn.alter(ctx, "posts", addField(&dataplanev1.Field{Name: "extra", Type: "text", Required: true}))
		}, check: func(t *testing.T, tn *tenant) {
			if !has(tn.describe(t, "posts"), "column extra text NO") {
				t.Error("extra not added")
			}
		}},
		{name: "alter set required with nulls", setup: withRecords, call: func(ctx context.Context, tn *tenant) error {
			return tn.alter(ctx, "posts",
				addField(field("extra", "text")),
				&dataplanev1.AlterOp{Op: &dataplanev1.AlterOp_SetRequired{SetRequired: &dataplanev1.SetRequired{Field: "slug", Required: true}}})
		}, code: connect.CodeFailedPrecondition, msg: []string{"ops[1].set_required: 2 records of collection posts have no value for field slug"}, check: unchanged},
		{name: "alter set unique with duplicates", setup: withRecords, call: func(ctx context.Context, tn *tenant) error {
			return tn.alter(ctx, "posts", &dataplanev1.AlterOp{Op: &dataplanev1.AlterOp_SetUnique{SetUnique: &dataplanev1.SetUnique{Field: "views", Unique: true}}})
		}, code: connect.CodeFailedPrecondition, msg: []string{"ops[0].set_unique: 1 value of field views is shared by more than one record"}, check: unchanged},
		{name: "alter unique index with duplicates", setup: withRecords, call: func(ctx context.Context, tn *tenant) error {
			return tn.alter(ctx, "posts", &dataplanev1.AlterOp{Op: &dataplanev1.AlterOp_AddIndex{AddIndex: &dataplanev1.Index{Fields: []string{"views"}, Unique: true}}})
		}, code: connect.CodeFailedPrecondition, msg: []string{"ops[0].add_index", "share a value"}, check: unchanged},
		{name: "alter bad default", setup: createPosts, call: func(ctx context.Context, tn *tenant) error {
			return tn.alter(ctx, "posts", &dataplanev1.AlterOp{Op: &dataplanev1.AlterOp_SetDefault{SetDefault: &dataplanev1.SetDefault{Field: "views", Default: val(t, true)}}})
		}, code: connect.CodeInvalidArgument, msg: []string{"ops[0].set_default.default: the default of an integer field must be a number, got a boolean"}, check: unchanged},
		{name: "alter unique json", setup: createPosts, call: func(ctx context.Context, tn *tenant) error {
			return tn.alter(ctx, "posts", &dataplanev1.AlterOp{Op: &dataplanev1.AlterOp_SetUnique{SetUnique: &dataplanev1.SetUnique{Field: "meta", Unique: true}}})
		}, code: connect.CodeInvalidArgument, msg: []string{"ops[0].set_unique.unique: json fields cannot be unique"}, check: unchanged},
		{name: "alter drop unknown index", setup: createPosts, call: func(ctx context.Context, tn *tenant) error {
			return tn.alter(ctx, "posts", &dataplanev1.AlterOp{Op: &dataplanev1.AlterOp_DropIndex{DropIndex: "nope"}})
		}, code: connect.CodeInvalidArgument, msg: []string{`ops[0].drop_index: collection posts has no index "nope"`}, check: unchanged},
		{name: "alter rename onto existing", setup: createPosts, call: func(ctx context.Context, tn *tenant) error {
			return tn.alter(ctx, "posts", &dataplanev1.AlterOp{Op: &dataplanev1.AlterOp_RenameField{RenameField: &dataplanev1.RenameField{From: "title", To: "slug"}}})
		}, code: connect.CodeInvalidArgument, msg: []string{"ops[0].rename_field.to"}, check: unchanged},
		{name: "alter drop field drops its indexes", setup: createPosts, call: func(ctx context.Context, tn *tenant) error {
			return tn.alter(ctx, "posts", &dataplanev1.AlterOp{Op: &dataplanev1.AlterOp_DropField{DropField: "views"}})
		}, check: func(t *testing.T, tn *tenant) {
			if lines := tn.describe(t, "posts"); has(lines, "index CREATE INDEX posts_views") || has(lines, "column views") {
				t.Errorf("views or its index left: %q", lines)
			}
			h := tn.history(t)
			if d := h[len(h)-1].GetDescription(); d != "drop field views and its values, with index posts_views_created_at_idx" {
				t.Errorf("description %q", d)
			}
		}},
		{
			name: "drop", setup: createPosts,
			call: func(ctx context.Context, tn *tenant) error {
				_, err := tn.c.DropCollection(ctx, connect.NewRequest(&dataplanev1.DropCollectionRequest{Name: "posts"}))
				return err
			},
			check: func(t *testing.T, tn *tenant) {
				if lines := tn.describe(t, "posts"); len(lines) != 0 {
					t.Errorf("posts left: %q", lines)
				}
				h := tn.history(t)
				if len(h) != 2 || h[1].GetKind() != "drop" || h[1].GetSql() != "DROP TABLE "+tn.table("posts")+";" {
					t.Errorf("history %v", h)
				}
			},
		},
		{name: "drop unknown", call: func(ctx context.Context, tn *tenant) error {
			_, err := tn.c.DropCollection(ctx, connect.NewRequest(&dataplanev1.DropCollectionRequest{Name: "posts"}))
			return err
		}, code: connect.CodeNotFound},
		{
			name: "drop a relation's target",
			setup: func(t *testing.T, tn *tenant) {
				tn.create(t, &dataplanev1.Collection{Name: "authors", Fields: []*dataplanev1.Field{{Name: "mentor", Type: "relation", Collection: "authors"}}})
				tn.create(t, &dataplanev1.Collection{Name: "books", Fields: []*dataplanev1.Field{{Name: "author", Type: "relation", Collection: "authors"}}})
			},
			call: func(ctx context.Context, tn *tenant) error {
				_, err := tn.c.DropCollection(ctx, connect.NewRequest(&dataplanev1.DropCollectionRequest{Name: "authors"}))
				return err
			},
			code: connect.CodeFailedPrecondition, msg: []string{"relations point at it: books.author"},
			check: func(t *testing.T, tn *tenant) {
				if len(tn.describe(t, "authors")) == 0 {
					t.Error("authors was dropped")
				}
			},
		},
		{
			name: "history pages",
			setup: func(t *testing.T, tn *tenant) {
				createPosts(t, tn)
				tn.create(t, &dataplanev1.Collection{Name: "notes"})
				if err := tn.alter(t.Context(), "posts", addField(field("a", "text")), addField(field("b", "text"))); err != nil {
					t.Fatal(err)
				}
			},
			call: func(ctx context.Context, tn *tenant) error {
				var got []string
				var after int64
				for {
					resp, err := tn.c.ListSchemaChanges(ctx, connect.NewRequest(&dataplanev1.ListSchemaChangesRequest{Collection: "posts", Limit: 2, AfterId: after}))
					if err != nil {
						return err
					}
					for _, c := range resp.Msg.GetChanges() {
						got = append(got, c.GetKind()+" "+c.GetCollection())
					}
					if after = resp.Msg.GetNextAfterId(); after == 0 {
						break
					}
				}
				if !slices.Equal(got, []string{"create posts", "alter posts", "alter posts"}) {
					return errors.New("pages held " + strings.Join(got, ", "))
				}
				return nil
			},
		},
		{name: "history bad limit", call: func(ctx context.Context, tn *tenant) error {
			_, err := tn.c.ListSchemaChanges(ctx, connect.NewRequest(&dataplanev1.ListSchemaChangesRequest{Limit: 1001}))
			return err
		}, code: connect.CodeInvalidArgument, msg: []string{"limit: must be 1 to 1000"}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			tn := srv.tenant(t)
			if sc.setup != nil {
				sc.setup(t, tn)
			}
			tn.before = tn.describe(t, "posts")
			err := sc.call(t.Context(), tn)
			switch {
			case sc.code == 0 && err != nil:
				t.Fatalf("error %v", err)
			case sc.code != 0 && connect.CodeOf(err) != sc.code:
				t.Fatalf("error %v, want code %v", err, sc.code)
			}
			for _, m := range sc.msg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q lacks %q", err, m)
				}
			}
			if sc.check != nil {
				sc.check(t, tn)
			}
		})
	}
}

// One tenant's collections do not exist for another.
func TestCrossTenantIsolation(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	a, b := srv.tenant(t), srv.tenant(t)
	a.create(t, postsDef(t))
	ctx := t.Context()
	_, err := b.c.GetCollection(ctx, connect.NewRequest(&dataplanev1.GetCollectionRequest{Name: "posts"}))
	if connect.CodeOf(err) != connect.CodeNotFound {
		t.Errorf("b gets a's collection: %v", err)
	}
	if err := b.alter(ctx, "posts", addField(field("x", "text"))); connect.CodeOf(err) != connect.CodeNotFound {
		t.Errorf("b alters a's collection: %v", err)
	}
	if _, err := b.c.DropCollection(ctx, connect.NewRequest(&dataplanev1.DropCollectionRequest{Name: "posts"})); connect.CodeOf(err) != connect.CodeNotFound {
		t.Errorf("b drops a's collection: %v", err)
	}
	list, err := b.c.ListCollections(ctx, connect.NewRequest(&dataplanev1.ListCollectionsRequest{}))
	if err != nil || len(list.Msg.GetCollections()) != 0 {
		t.Errorf("b lists %v, %v", list, err)
	}
	if h := b.history(t); len(h) != 0 {
		t.Errorf("b sees history %v", h)
	}
	// b may have a posts of its own, unrelated to a's; a relation of b
	// cannot point at a's table.
	b.create(t, &dataplanev1.Collection{Name: "posts", Fields: []*dataplanev1.Field{field("other", "integer")}})
	if has(a.describe(t, "posts"), "column other") {
		t.Error("b's create changed a's table")
	}
	if len(a.history(t)) != 1 || len(b.history(t)) != 1 {
		t.Error("histories mixed")
	}
}

// Only a secret key manages collections.
func TestKeys(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	tn := srv.tenant(t)
	ctx := t.Context()
	_, err := srv.client(tn.id.TenantRef, apikeys.KindPublishable).ListCollections(ctx, connect.NewRequest(&dataplanev1.ListCollectionsRequest{}))
	// Refused by the handler, or before it by package caller.
	if connect.CodeOf(err) != connect.CodePermissionDenied || !strings.Contains(err.Error(), "secret key") {
		t.Errorf("publishable key: %v", err)
	}
	_, err = srv.client("", "").ListCollections(ctx, connect.NewRequest(&dataplanev1.ListCollectionsRequest{}))
	if connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("no key: %v", err)
	}
}

package schema_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sovereign-backend/sovereign/dataplane/schema"
	"github.com/sovereign-backend/sovereign/dataplane/schema/schematest"
	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
	"github.com/sovereign-backend/sovereign/internal/broker"
	"github.com/sovereign-backend/sovereign/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var quiet = slog.New(slog.DiscardHandler)

// newStore returns a Store over db and b whose Run goes until the test
// ends, once it is live.
func newStore(t *testing.T, db *tenantdb.DB, b broker.Broker) *schema.Store {
	t.Helper()
	s, err := schema.NewStore(schema.StoreConfig{DB: db, Broker: b, Logger: quiet, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { s.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	waitFor(t, "the store to go live", s.Live)
	return s
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func posts() schema.Collection {
	return schema.Collection{Name: "posts", Fields: []schema.Field{
		{Name: "title", Type: schema.Text, Required: true, Default: "untitled"},
		{Name: "slug", Type: schema.Text, Unique: true},
		{Name: "views", Type: schema.Integer, Default: 0.0},
		{Name: "score", Type: schema.Number, Default: -1.25},
		{Name: "draft", Type: schema.Boolean, Default: true},
		{Name: "published", Type: schema.Timestamp, Default: "2024-05-01T12:00:00Z"},
		{Name: "meta", Type: schema.JSON, Default: map[string]any{"tags": []any{"a", "it's"}, "n": 1.0}},
		{Name: "parent", Type: schema.Relation, Collection: "posts"},
		{Name: "embedding", Type: schema.Vector, Dimensions: 3},
		{Name: "cover", Type: schema.File},
	}, Indexes: []schema.Index{{Fields: []string{"views", "created_at"}}, {Name: "posts_by_title", Fields: []string{"title"}, Unique: true}}}
}

// Defaults reach the table as literals that mean them: a record inserted
// with only its id reads back with every default.
func TestDefaultsRoundTrip(t *testing.T) {
	t.Parallel()
	_, d := schematest.New(t)
	id := d.Tenant(t)
	s := newStore(t, d.DB, broker.NewMemory())
	ctx := t.Context()
	c := posts()
	c.Fields = append(c.Fields, schema.Field{Name: "quote", Type: schema.Text, Default: `it's a \ "test"` + "\n✓"})
	if _, err := s.Create(ctx, id, c); err != nil {
		t.Fatal(err)
	}
	err := d.DB.Tx(ctx, id, tenantdb.TxOptions{}, func(q tenantdb.Querier) error {
		var (
			title, quote string
			views        int64
			score        float64
			draft        bool
			published    time.Time
			meta         map[string]any
			version      int64
		)
		err := q.QueryRow(ctx, "INSERT INTO "+tenantdb.Table(id.TenantRef, "posts")+" (id) VALUES (gen_random_uuid()) RETURNING title, quote, views, score, draft, published, meta, version").
			Scan(&title, &quote, &views, &score, &draft, &published, &meta, &version)
		if err != nil {
			return err
		}
		if title != "untitled" || quote != c.Fields[len(c.Fields)-1].Default || views != 0 || score != -1.25 || !draft ||
			!published.Equal(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)) || fmt.Sprint(meta) != "map[n:1 tags:[a it's]]" || version != 1 {
			return fmt.Errorf("defaults read back as %q %q %d %v %v %v %v %d", title, quote, views, score, draft, published, meta, version)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A tenant that never made a collection has none, and no history.
func TestEmptyTenant(t *testing.T) {
	t.Parallel()
	_, d := schematest.New(t)
	id := d.Tenant(t)
	s := newStore(t, d.DB, broker.NewMemory())
	ctx := t.Context()
	if _, err := s.Get(ctx, id, "posts"); !errors.Is(err, schema.ErrNotFound) {
		t.Errorf("Get: %v, want ErrNotFound", err)
	}
	if cs, err := s.List(ctx, id); err != nil || len(cs) != 0 {
		t.Errorf("List: %v, %v", cs, err)
	}
	if ch, next, err := s.History(ctx, id, schema.HistoryParams{}); err != nil || len(ch) != 0 || next != 0 {
		t.Errorf("History: %v, %d, %v", ch, next, err)
	}
	if err := s.Drop(ctx, id, "posts"); !errors.Is(err, schema.ErrNotFound) {
		t.Errorf("Drop: %v, want ErrNotFound", err)
	}
}

// Only the service role changes schemas; any role reads definitions.
func TestServiceOnly(t *testing.T) {
	t.Parallel()
	_, d := schematest.New(t)
	id := d.Tenant(t)
	s := newStore(t, d.DB, broker.NewMemory())
	ctx := t.Context()
	if _, err := s.Create(ctx, id, posts()); err != nil {
		t.Fatal(err)
	}
	anon := id
	anon.Role = tenantdb.RoleAnon
	if _, err := s.Create(ctx, anon, schema.Collection{Name: "notes"}); !errors.Is(err, schema.ErrServiceOnly) {
		t.Errorf("Create as anon: %v", err)
	}
	if _, err := s.Alter(ctx, anon, "posts", []schema.AlterOp{{DropField: "title"}}); !errors.Is(err, schema.ErrServiceOnly) {
		t.Errorf("Alter as anon: %v", err)
	}
	if err := s.Drop(ctx, anon, "posts"); !errors.Is(err, schema.ErrServiceOnly) {
		t.Errorf("Drop as anon: %v", err)
	}
	if c, err := s.Get(ctx, anon, "posts"); err != nil || c.Name != "posts" {
		t.Errorf("Get as anon: %v, %v", c, err)
	}
	// The history's policy admits only the service role.
	if ch, _, err := s.History(ctx, anon, schema.HistoryParams{}); err != nil || len(ch) != 0 {
		t.Errorf("History as anon: %d changes, %v", len(ch), err)
	}
	// And the collection's table admits no other role either.
	err := d.DB.Tx(ctx, anon, tenantdb.TxOptions{}, func(q tenantdb.Querier) error {
		_, err := q.Exec(ctx, "INSERT INTO "+tenantdb.Table(id.TenantRef, "posts")+" (id) VALUES (gen_random_uuid())")
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "row-level security") {
		t.Errorf("insert as anon: %v, want a row-level security refusal", err)
	}
}

// Concurrent first changes of a tenant serialise on its lock: the metadata
// tables are made once and every change lands.
func TestConcurrentFirstUse(t *testing.T) {
	t.Parallel()
	_, d := schematest.New(t)
	id := d.Tenant(t)
	s := newStore(t, d.DB, broker.NewMemory())
	ctx := t.Context()
	const n = 8
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, err := s.Create(ctx, id, schema.Collection{Name: fmt.Sprintf("c%d", i), Fields: []schema.Field{{Name: "a", Type: schema.Text}}})
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	cs, err := s.List(ctx, id)
	if err != nil || len(cs) != n {
		t.Fatalf("List: %d collections, %v", len(cs), err)
	}
	ch, _, err := s.History(ctx, id, schema.HistoryParams{})
	if err != nil || len(ch) != n {
		t.Fatalf("History: %d changes, %v", len(ch), err)
	}
}

// An alter on one node reaches another node's cache through the broker.
func TestCacheInvalidationAcrossNodes(t *testing.T) {
	t.Parallel()
	_, d := schematest.New(t)
	id := d.Tenant(t)
	prefix := testenv.KeyPrefix(t)
	newBroker := func() broker.Broker {
		b, err := broker.NewValkey(t.Context(), broker.ValkeyConfig{URL: testenv.ValkeyURL(t), Prefix: prefix, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	}
	a := newStore(t, d.DB, newBroker())
	b := newStore(t, d.DB, newBroker())
	ctx := t.Context()
	if _, err := a.Create(ctx, id, posts()); err != nil {
		t.Fatal(err)
	}
	// A change behind b's back (straight to the database) shows when b
	// serves from its cache: once the invalidation of the create has
	// reached it, it does.
	waitFor(t, "node b to cache the definition", func() bool {
		c, err := b.Get(ctx, id, "posts")
		if err != nil {
			t.Fatal(err)
		}
		err = d.DB.Tx(ctx, id, tenantdb.TxOptions{}, func(q tenantdb.Querier) error {
			_, err := q.Exec(ctx, "UPDATE "+tenantdb.Table(id.TenantRef, "_collections")+" SET updated_at = updated_at - interval '1 second'")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		again, err := b.Get(ctx, id, "posts")
		if err != nil {
			t.Fatal(err)
		}
		return again.UpdatedAt.Equal(c.UpdatedAt)
	})
	if _, err := a.Alter(ctx, id, "posts", []schema.AlterOp{{AddField: &schema.Field{Name: "summary", Type: schema.Text}}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "node b to see the new field", func() bool {
		c, err := b.Get(ctx, id, "posts")
		if err != nil {
			t.Fatal(err)
		}
		_, ok := c.Field("summary")
		return ok
	})
	// A drop on a reaches b as well, and a create after it.
	if err := a.Drop(ctx, id, "posts"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "node b to see the drop", func() bool {
		_, err := b.Get(ctx, id, "posts")
		return errors.Is(err, schema.ErrNotFound)
	})
	if _, err := a.Create(ctx, id, schema.Collection{Name: "posts"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "node b to see the new collection", func() bool {
		c, err := b.Get(ctx, id, "posts")
		return err == nil && len(c.Fields) == 0
	})
}

// When the broker goes away the cache turns off, so nothing stale is
// served while invalidations cannot arrive.
func TestCacheOffWithoutSubscription(t *testing.T) {
	t.Parallel()
	_, d := schematest.New(t)
	id := d.Tenant(t)
	b := broker.NewMemory()
	s := newStore(t, d.DB, b)
	other := newStore(t, d.DB, broker.NewMemory()) // hears nothing from s
	ctx := t.Context()
	if _, err := s.Create(ctx, id, schema.Collection{Name: "notes"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, id, "notes"); err != nil {
		t.Fatal(err)
	}
	_ = b.Close()
	waitFor(t, "the cache to turn off", func() bool { return !s.Live() })
	if _, err := other.Alter(ctx, id, "notes", []schema.AlterOp{{AddField: &schema.Field{Name: "body", Type: schema.Text}}}); err != nil {
		t.Fatal(err)
	}
	c, err := s.Get(ctx, id, "notes")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Field("body"); !ok {
		t.Fatal("a store without a subscription served a stale definition")
	}
}

// The exported history, run on a fresh database holding the same tenant,
// rebuilds the same tables, constraints, indexes and policies.
func TestExportSQLRebuilds(t *testing.T) {
	t.Parallel()
	region, d := schematest.New(t)
	id := d.Tenant(t)
	s := newStore(t, d.DB, broker.NewMemory())
	ctx := t.Context()
	if _, err := s.Create(ctx, id, schema.Collection{Name: "authors", Fields: []schema.Field{{Name: "name", Type: schema.Text, Required: true}}}); err != nil {
		t.Fatal(err)
	}
	c := posts()
	c.Fields = append(c.Fields, schema.Field{Name: "author", Type: schema.Relation, Collection: "authors"})
	if _, err := s.Create(ctx, id, c); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, id, schema.Collection{Name: "scratch"}); err != nil {
		t.Fatal(err)
	}
	_, err := s.Alter(ctx, id, "posts", []schema.AlterOp{
		{AddField: &schema.Field{Name: "body", Type: schema.Text, Default: "it's"}},
		{RenameField: &schema.RenameField{From: "body", To: "content"}},
		{SetRequired: &schema.SetRequired{Field: "content", Required: true}},
		{SetUnique: &schema.SetUnique{Field: "content", Unique: true}},
		{SetUnique: &schema.SetUnique{Field: "slug", Unique: false}},
		{SetDefault: &schema.SetDefault{Field: "views", Default: 7.0}},
		{SetDefault: &schema.SetDefault{Field: "score"}},
		{AddIndex: &schema.Index{Fields: []string{"content", "views"}}},
		{DropIndex: "posts_by_title"},
		{DropField: "cover"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Drop(ctx, id, "scratch"); err != nil {
		t.Fatal(err)
	}
	changes, next, err := s.History(ctx, id, schema.HistoryParams{})
	if err != nil || next != 0 {
		t.Fatalf("History: %v, next %d", err, next)
	}
	if len(changes) != 14 {
		t.Fatalf("%d changes, want 14", len(changes))
	}
	script := schema.ExportSQL(changes)

	// The same tenant in another database of the cluster: its role is
	// shared, its schema is fresh.
	d2 := region.Database(t)
	d2.Provision(t, id.TenantRef)
	conn, err := d2.Pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SET ROLE "+pgx.Identifier{tenantdb.Schema(id.TenantRef)}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, script); err != nil {
		t.Fatalf("run the export: %v\n%s", err, script)
	}
	if _, err := conn.Exec(ctx, "RESET ROLE"); err != nil {
		t.Fatal(err)
	}
	want := describeSchema(t, d, id.TenantRef)
	got := describeSchema(t, d2, id.TenantRef)
	if !slices.Equal(got, want) {
		t.Fatalf("rebuilt schema differs:\n got  %q\n want %q", got, want)
	}
	for _, line := range []string{
		"column posts.content text NO 'it''s'::text",
		"column posts.embedding ARRAY YES ",
		"policy posts service_all",
		"rls posts t t",
	} {
		if !slices.ContainsFunc(want, func(s string) bool { return strings.HasPrefix(s, line) }) {
			t.Errorf("schema lacks %q: %q", line, want)
		}
	}
}

// describeSchema lists the user tables of the tenant's schema: columns,
// constraints, indexes, row-level security and policies, one string each,
// sorted.
func describeSchema(t *testing.T, d *schematest.Database, ref string) []string {
	t.Helper()
	rows, err := d.Pool.Query(t.Context(), `
SELECT format('column %s.%s %s %s %s', table_name, column_name, data_type, is_nullable, coalesce(column_default, ''))
FROM information_schema.columns WHERE table_schema = $1 AND table_name NOT LIKE '\_%'
UNION ALL
SELECT format('constraint %s %s %s', c.relname, k.conname, pg_get_constraintdef(k.oid))
FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname NOT LIKE '\_%'
UNION ALL
SELECT format('index %s %s', tablename, indexdef) FROM pg_indexes WHERE schemaname = $1 AND tablename NOT LIKE '\_%'
UNION ALL
SELECT format('rls %s %s %s', c.relname, c.relrowsecurity, c.relforcerowsecurity)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind = 'r' AND c.relname NOT LIKE '\_%'
UNION ALL
SELECT format('policy %s %s %s %s %s', tablename, policyname, cmd, qual, with_check) FROM pg_policies
WHERE schemaname = $1 AND tablename NOT LIKE '\_%'
ORDER BY 1`, tenantdb.Schema(ref))
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Alter is all or nothing: a failing op undoes the ones before it, table
// and history alike.
func TestAlterAllOrNothing(t *testing.T) {
	t.Parallel()
	_, d := schematest.New(t)
	id := d.Tenant(t)
	s := newStore(t, d.DB, broker.NewMemory())
	ctx := t.Context()
	if _, err := s.Create(ctx, id, posts()); err != nil {
		t.Fatal(err)
	}
	before := describeSchema(t, d, id.TenantRef)
	beforeDef, err := s.Get(ctx, id, "posts")
	if err != nil {
		t.Fatal(err)
	}
	// Two records without a slug... and one with a duplicate view count.
	err = d.DB.Tx(ctx, id, tenantdb.TxOptions{}, func(q tenantdb.Querier) error {
		_, err := q.Exec(ctx, "INSERT INTO "+tenantdb.Table(id.TenantRef, "posts")+" (id, title, views) VALUES (gen_random_uuid(), 'a', 1), (gen_random_uuid(), 'b', 1)")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		ops   []schema.AlterOp
		check func(error) bool
	}{
		{"input error last", []schema.AlterOp{
			{AddField: &schema.Field{Name: "a", Type: schema.Text}},
			{DropIndex: "posts_by_title"},
			{AddField: &schema.Field{Name: "b", Type: "txt"}},
		}, func(err error) bool {
			var ie *schema.InputError
			return errors.As(err, &ie) && ie.Field == "ops[2].add_field.type"
		}},
		{"precondition last", []schema.AlterOp{
			{AddField: &schema.Field{Name: "a", Type: schema.Text}},
			{RenameField: &schema.RenameField{From: "title", To: "headline"}},
			{SetUnique: &schema.SetUnique{Field: "views", Unique: true}},
		}, func(err error) bool {
			var pe *schema.PreconditionError
			return errors.As(err, &pe) && pe.Field == "ops[2].set_unique" && strings.Contains(pe.Reason, "1 value of field views is shared")
		}},
		{"database refusal last", []schema.AlterOp{
			{DropField: "slug"},
			{AddIndex: &schema.Index{Fields: []string{"views"}, Unique: true}},
		}, func(err error) bool {
			var pe *schema.PreconditionError
			return errors.As(err, &pe) && pe.Field == "ops[1].add_index" && strings.Contains(pe.Reason, "share a value")
		}},
	} {
		_, err := s.Alter(ctx, id, "posts", tc.ops)
		if !tc.check(err) {
			t.Errorf("%s: error %v (%T)", tc.name, err, err)
		}
		if after := describeSchema(t, d, id.TenantRef); !slices.Equal(after, before) {
			t.Errorf("%s: the table changed:\n%q\n%q", tc.name, after, before)
		}
		def, err := s.Get(ctx, id, "posts")
		if err != nil || fmt.Sprint(def) != fmt.Sprint(beforeDef) {
			t.Errorf("%s: the definition changed: %v, %v", tc.name, def, err)
		}
		if ch, _, err := s.History(ctx, id, schema.HistoryParams{}); err != nil || len(ch) != 1 {
			t.Errorf("%s: history has %d changes (%v), want 1", tc.name, len(ch), err)
		}
	}
}

// Ops that ask for what is already so change nothing and are not
// recorded, so a retried Alter succeeds.
func TestAlterIdempotent(t *testing.T) {
	t.Parallel()
	_, d := schematest.New(t)
	id := d.Tenant(t)
	s := newStore(t, d.DB, broker.NewMemory())
	ctx := t.Context()
	created, err := s.Create(ctx, id, posts())
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Alter(ctx, id, "posts", []schema.AlterOp{
		{SetRequired: &schema.SetRequired{Field: "title", Required: true}},
		{SetUnique: &schema.SetUnique{Field: "slug", Unique: true}},
		{SetDefault: &schema.SetDefault{Field: "views", Default: 0}},
		{SetDefault: &schema.SetDefault{Field: "published", Default: "2024-05-01T14:00:00+02:00"}},
		{RenameField: &schema.RenameField{From: "title", To: "title"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !got.UpdatedAt.Equal(created.UpdatedAt) {
		t.Error("a no-op alter changed updated_at")
	}
	if ch, _, err := s.History(ctx, id, schema.HistoryParams{}); err != nil || len(ch) != 1 {
		t.Errorf("history has %d changes (%v), want 1", len(ch), err)
	}
}

// Generated names avoid every name in use; given names that are in use
// are refused.
func TestNameCollisions(t *testing.T) {
	t.Parallel()
	_, d := schematest.New(t)
	id := d.Tenant(t)
	s := newStore(t, d.DB, broker.NewMemory())
	ctx := t.Context()
	if _, err := s.Create(ctx, id, schema.Collection{Name: "posts", Fields: []schema.Field{{Name: "title", Type: schema.Text}},
		Indexes: []schema.Index{{Name: "posts_body_idx", Fields: []string{"title"}}}}); err != nil {
		t.Fatal(err)
	}
	// A collection cannot take an index's name.
	_, err := s.Create(ctx, id, schema.Collection{Name: "posts_body_idx"})
	var ie *schema.InputError
	if !errors.As(err, &ie) || ie.Field != "name" {
		t.Fatalf("collection named like an index: %v", err)
	}
	// A generated name that is taken gets a number.
	c, err := s.Alter(ctx, id, "posts", []schema.AlterOp{
		{AddField: &schema.Field{Name: "body", Type: schema.Text}},
		{AddIndex: &schema.Index{Fields: []string{"body"}}},
		{AddIndex: &schema.Index{Fields: []string{"body"}, Unique: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ix := range c.Indexes {
		names = append(names, ix.Name)
	}
	if want := []string{"posts_body_idx", "posts_body_2_idx", "posts_body_3_idx"}; !slices.Equal(names, want) {
		t.Errorf("index names %q, want %q", names, want)
	}
	// A given name that is taken is refused.
	_, err = s.Alter(ctx, id, "posts", []schema.AlterOp{{AddIndex: &schema.Index{Name: "posts", Fields: []string{"created_at"}}}})
	if !errors.As(err, &ie) || ie.Field != "ops[0].add_index.name" {
		t.Fatalf("index named like a collection: %v", err)
	}
	// Renaming a field keeps its constraint names; a new field of the old
	// name gets fresh ones.
	if _, err := s.Alter(ctx, id, "posts", []schema.AlterOp{
		{SetUnique: &schema.SetUnique{Field: "title", Unique: true}},
		{RenameField: &schema.RenameField{From: "title", To: "headline"}},
		{AddField: &schema.Field{Name: "title", Type: schema.Text, Unique: true}},
		{SetUnique: &schema.SetUnique{Field: "headline", Unique: false}},
	}); err != nil {
		t.Fatal(err)
	}
	var cons []string
	for _, l := range describeSchema(t, d, id.TenantRef) {
		if strings.HasPrefix(l, "constraint posts posts_title") {
			cons = append(cons, l)
		}
	}
	if want := []string{`constraint posts posts_title_2_key UNIQUE (title)`}; !slices.Equal(cons, want) {
		t.Errorf("constraints %q, want %q", cons, want)
	}
}

package isolation_test

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
	"github.com/sovereign-backend/sovereign/internal/isolation"
	"github.com/sovereign-backend/sovereign/internal/testenv"
)

// On a platform running as the unprivileged app role, with several
// projects, users, collections and rules: every table of every tenant
// schema (the collections, _collections, _schema_history, the auth tables)
// has row-level security enabled and forced and belongs to its tenant
// role; the login role owns none of them and is neither superuser nor
// BYPASSRLS; every tenant role is a plain NOLOGIN role, a member of no
// other tenant's role, without access to another tenant's schema.
func TestCatalog(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := t.Context()

	var tables int
	if err := w.admin.QueryRow(ctx, `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname LIKE 't\_%' AND c.relkind IN ('r', 'p')`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	// Each tenant has at least its two collections and _collections.
	if tables < worldTenants*(len(collections)+1) {
		t.Fatalf("only %d tables in tenant schemas", tables)
	}
	rows, err := w.admin.Query(ctx, `SELECT DISTINCT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname LIKE 't\_%' AND c.relkind IN ('r', 'p') ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d tenant tables; names: %s", tables, strings.Join(names, ", "))

	problems, err := isolation.CatalogProblems(ctx, w.admin, w.p.LoginRole)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}

	// The check sees a table whose row-level security is not forced, a
	// tenant role that is a member of another's, and a superuser login.
	tbl := tenantdb.Table(w.tenants[0].ref, "notes")
	a, b := pgx.Identifier{tenantdb.Schema(w.tenants[0].ref)}.Sanitize(), pgx.Identifier{tenantdb.Schema(w.tenants[1].ref)}.Sanitize()
	tx, err := w.admin.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // the point is to undo
	if _, err := tx.Exec(ctx, "ALTER TABLE "+tbl+" NO FORCE ROW LEVEL SECURITY; GRANT "+b+" TO "+a); err != nil {
		t.Fatal(err)
	}
	super, err := pgx.ParseConfig(testenv.AdminURL(t))
	if err != nil {
		t.Fatal(err)
	}
	problems, err = isolation.CatalogProblems(ctx, tx, super.User)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"is enabled but not forced", "is a member of tenant role", "may use schema", "is a superuser"}
	got := strings.Join(problems, "\n")
	for _, s := range want {
		if !strings.Contains(got, s) {
			t.Errorf("the catalog check does not report %q; it reports:\n%s", s, got)
		}
	}
}

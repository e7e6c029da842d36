package storage_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
	"github.com/sovereign-backend/sovereign/internal/isolation"
	"github.com/sovereign-backend/sovereign/internal/platformtest"
	"github.com/sovereign-backend/sovereign/internal/testenv"
)

// storageTables are the tables the service makes in a tenant's schema.
var storageTables = []string{"_storage_buckets", "_storage_objects", "_storage_usage", "_storage_keys"}

// TestStorageTablesIsolated: on a platform running as the unprivileged app
// role, once two projects have used storage (bucket, upload, signed URL),
// every _storage_* table exists in each tenant schema with row-level
// security enabled and forced and belongs to its tenant role (the checks
// of internal/isolation, whose own world has no storage tables); the
// login role cannot read them as another tenant, and inside the tenant
// only the service identity sees rows.
func TestStorageTablesIsolated(t *testing.T) {
	t.Parallel()
	pl := startPlatform(t, platformtest.Options{AppRole: true})
	a, b := pl.project(t), pl.project(t)
	base := pl.p.DataURL + "/v1/storage"
	for _, pr := range []project{a, b} {
		if r := do(t, "POST", base+"/buckets", pr.sk, strings.NewReader(`{"name":"docs"}`), nil); r.status != 201 {
			t.Fatalf("create bucket: %d %s", r.status, r.body)
		}
		if r := do(t, "PUT", base+"/objects/docs/secret.txt", pr.sk, strings.NewReader("secret of "+pr.ref), map[string]string{"Content-Type": "text/plain"}); r.status != 201 {
			t.Fatalf("put: %d %s", r.status, r.body)
		}
		if r := do(t, "POST", base+"/buckets/docs/sign", pr.sk, strings.NewReader(`{"name":"secret.txt","method":"GET"}`), nil); r.status != 200 {
			t.Fatalf("sign: %d %s", r.status, r.body)
		}
	}
	ctx := t.Context()
	admin := adminPoolOn(t, pl.p.DatabaseURL)
	for _, pr := range []project{a, b} {
		for _, tbl := range storageTables {
			var enabled, forced bool
			var owner string
			err := admin.QueryRow(ctx, `SELECT c.relrowsecurity, c.relforcerowsecurity, pg_get_userbyid(c.relowner)
				FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`,
				tenantdb.Schema(pr.ref), tbl).Scan(&enabled, &forced, &owner)
			if err != nil {
				t.Fatalf("%s.%s: %v", tenantdb.Schema(pr.ref), tbl, err)
			}
			if !enabled || !forced || owner != tenantdb.Schema(pr.ref) {
				t.Errorf("%s.%s: row-level security enabled %v, forced %v; owner %s", tenantdb.Schema(pr.ref), tbl, enabled, forced, owner)
			}
		}
	}
	problems, err := isolation.CatalogProblems(ctx, admin, pl.p.LoginRole)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}

	// As the login role: tenant b's identity cannot reach a's tables, and
	// a's own identity sees rows only as the service role.
	pool, err := pgxpool.New(ctx, pl.p.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	db := tenantdb.New(pool)
	for _, tbl := range storageTables {
		sql := `SELECT count(*) FROM ` + tenantdb.Table(a.ref, tbl)
		err := db.Tx(ctx, tenantdb.Identity{TenantRef: b.ref, Role: tenantdb.RoleService}, tenantdb.TxOptions{}, func(q tenantdb.Querier) error {
			var n int
			return q.QueryRow(ctx, sql).Scan(&n)
		})
		if err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("tenant %s reads %s of tenant %s: %v", b.ref, tbl, a.ref, err)
		}
		for _, role := range []string{tenantdb.RoleAnon, tenantdb.RoleAuthenticated} {
			var n int
			err := db.Tx(ctx, tenantdb.Identity{TenantRef: a.ref, Role: role, UserID: "someone"}, tenantdb.TxOptions{}, func(q tenantdb.Querier) error {
				return q.QueryRow(ctx, sql).Scan(&n)
			})
			if err != nil || n != 0 {
				t.Errorf("%s of tenant %s as %s: %d rows, %v", tbl, a.ref, role, n, err)
			}
		}
		var n int
		if err := db.Tx(ctx, tenantdb.Identity{TenantRef: a.ref, Role: tenantdb.RoleService}, tenantdb.TxOptions{}, func(q tenantdb.Querier) error {
			return q.QueryRow(ctx, sql).Scan(&n)
		}); err != nil || n == 0 {
			t.Errorf("%s of tenant %s as the service role: %d rows, %v", tbl, a.ref, n, err)
		}
	}
	// The other project's key never reaches a's object.
	if r := do(t, "GET", base+"/objects/docs/secret.txt", b.sk, nil, nil); r.status != 200 || r.body != "secret of "+b.ref {
		t.Errorf("b reads its own object: %d %q", r.status, r.body)
	}
}

// adminPoolOn opens a pool as the test server's superuser on the database
// of url.
func adminPoolOn(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(testenv.AdminURL(t))
	if err != nil {
		t.Fatal(err)
	}
	app, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.Database = app.Database
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

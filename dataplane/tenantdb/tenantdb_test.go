package tenantdb_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sovereign-backend/sovereign/dataplane/migrations"
	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
	"github.com/sovereign-backend/sovereign/dataplane/tenants"
	"github.com/sovereign-backend/sovereign/internal/migrate"
	"github.com/sovereign-backend/sovereign/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func ref() string {
	return fmt.Sprintf("%x", func() []byte { b := make([]byte, 6); _, _ = rand.Read(b); return b }())
}

// setup provisions two tenants, each with a table "items" owned by its role,
// RLS forced and a policy for the service role, holding one row.
func setup(t *testing.T) (*pgxpool.Pool, *tenantdb.DB, string, string) {
	t.Helper()
	ctx := context.Background()
	pool := testenv.Pool(t)
	if _, err := migrate.Up(ctx, pool, migrate.Config{Schema: "dataplane", FS: migrations.FS}); err != nil {
		t.Fatal(err)
	}
	ts, err := tenants.New(tenants.Config{Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	db := tenantdb.New(pool)
	var refs []string
	for range 2 {
		r := ref()
		if _, err := ts.Provision(ctx, tenants.ProvisionParams{Ref: r}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_, _ = pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{tenantdb.Schema(r)}.Sanitize()+" CASCADE")
			_, _ = pool.Exec(context.Background(), "DROP ROLE IF EXISTS "+pgx.Identifier{tenantdb.Schema(r)}.Sanitize())
		})
		tbl := tenantdb.Table(r, "items")
		err := db.Tx(ctx, tenantdb.Identity{TenantRef: r, Role: tenantdb.RoleService}, tenantdb.TxOptions{}, func(q tenantdb.Querier) error {
			_, err := q.Exec(ctx, `CREATE TABLE `+tbl+` (id int PRIMARY KEY, owner text);
				ALTER TABLE `+tbl+` ENABLE ROW LEVEL SECURITY; ALTER TABLE `+tbl+` FORCE ROW LEVEL SECURITY;
				CREATE POLICY service_all ON `+tbl+` USING (current_setting('sovereign.role', true) = 'service');
				INSERT INTO `+tbl+` VALUES (1, 'svc')`)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, r)
	}
	return pool, db, refs[0], refs[1]
}

func TestTxRunsAsTenantWithIdentity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, db, a, _ := setup(t)
	id := tenantdb.Identity{TenantRef: a, Role: tenantdb.RoleService, UserID: "u1", KeyID: "k1"}
	var user, path, role, uid, key string
	err := db.Tx(ctx, id, tenantdb.TxOptions{}, func(q tenantdb.Querier) error {
		return q.QueryRow(ctx, `SELECT current_user, current_setting('search_path'), current_setting('sovereign.role'),
			current_setting('sovereign.uid'), current_setting('sovereign.key_id')`).Scan(&user, &path, &role, &uid, &key)
	})
	if err != nil {
		t.Fatal(err)
	}
	if user != tenantdb.Schema(a) || path != `"`+tenantdb.Schema(a)+`"` || role != "service" || uid != "u1" || key != "k1" {
		t.Fatalf("inside the tx: user %q path %q role %q uid %q key %q", user, path, role, uid, key)
	}
	// Nothing leaks to the next user of the connection.
	for range 8 {
		var after, afterRole string
		if err := pool.QueryRow(ctx, "SELECT current_user, coalesce(current_setting('sovereign.role', true), '')").Scan(&after, &afterRole); err != nil {
			t.Fatal(err)
		}
		if after == tenantdb.Schema(a) || afterRole != "" {
			t.Fatalf("after the tx the pool runs as %q with sovereign.role %q", after, afterRole)
		}
	}
}

func TestRowLevelSecurityHoldsForOtherRoles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, db, a, _ := setup(t)
	count := func(role string) int {
		var n int
		err := db.Read(ctx, tenantdb.Identity{TenantRef: a, Role: role}, func(rows pgx.Rows) error {
			for rows.Next() {
				if err := rows.Scan(&n); err != nil {
					return err
				}
			}
			return nil
		}, "SELECT count(*) FROM "+tenantdb.Table(a, "items"))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(tenantdb.RoleService); n != 1 {
		t.Fatalf("service sees %d rows, want 1", n)
	}
	if n := count(tenantdb.RoleAnon); n != 0 {
		t.Fatalf("anon sees %d rows through a service-only policy, want 0", n)
	}
}

func TestOtherTenantsTablesAreOutOfReach(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, db, a, b := setup(t)
	err := db.Read(ctx, tenantdb.Identity{TenantRef: a, Role: tenantdb.RoleService}, func(rows pgx.Rows) error {
		for rows.Next() {
		}
		return nil
	}, "SELECT * FROM "+tenantdb.Table(b, "items"))
	if err == nil {
		t.Fatal("tenant A read tenant B's table")
	}
}

func TestTxRollsBackOnError(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, db, a, _ := setup(t)
	id := tenantdb.Identity{TenantRef: a, Role: tenantdb.RoleService}
	boom := errors.New("boom")
	err := db.Tx(ctx, id, tenantdb.TxOptions{}, func(q tenantdb.Querier) error {
		if _, err := q.Exec(ctx, "INSERT INTO "+tenantdb.Table(a, "items")+" VALUES (2, 'x')"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Tx = %v, want fn's error", err)
	}
	var n int
	_ = db.Tx(ctx, id, tenantdb.TxOptions{ReadOnly: true}, func(q tenantdb.Querier) error {
		return q.QueryRow(ctx, "SELECT count(*) FROM "+tenantdb.Table(a, "items")).Scan(&n)
	})
	if n != 1 {
		t.Fatalf("%d rows after a failed tx, want 1", n)
	}
	err = db.Tx(ctx, id, tenantdb.TxOptions{ReadOnly: true}, func(q tenantdb.Querier) error {
		_, err := q.Exec(ctx, "INSERT INTO "+tenantdb.Table(a, "items")+" VALUES (3, 'x')")
		return err
	})
	if err == nil {
		t.Fatal("a read-only tx wrote")
	}
}

func TestBadIdentityRefused(t *testing.T) {
	t.Parallel()
	db := tenantdb.New(nil)
	for _, id := range []tenantdb.Identity{
		{TenantRef: "x'; DROP", Role: tenantdb.RoleService},
		{TenantRef: "abcd1234", Role: "superuser"},
	} {
		if err := db.Tx(context.Background(), id, tenantdb.TxOptions{}, func(tenantdb.Querier) error { return nil }); err == nil {
			t.Errorf("identity %+v accepted", id)
		}
	}
}

func TestBatchCommitsAsTenantInOneTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, db, a, _ := setup(t)
	id := tenantdb.Identity{TenantRef: a, Role: tenantdb.RoleService, UserID: "u7"}
	tbl := tenantdb.Table(a, "items")
	b := &pgx.Batch{}
	b.Queue("INSERT INTO "+tbl+" VALUES ($1, current_setting('sovereign.uid')) RETURNING current_user, txid_current()", 2)
	b.Queue("INSERT INTO "+tbl+" VALUES ($1, 'b') RETURNING current_user, txid_current()", 3)
	var users [2]string
	var txids [2]int64
	err := db.Batch(ctx, id, b, func(br pgx.BatchResults) error {
		for i := range 2 {
			if err := br.QueryRow().Scan(&users[i], &txids[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if users[0] != tenantdb.Schema(a) || users[1] != tenantdb.Schema(a) || txids[0] != txids[1] {
		t.Fatalf("statements ran as %q and %q in transactions %d and %d; want the tenant's role, one transaction", users[0], users[1], txids[0], txids[1])
	}
	var owner string
	err = db.Read(ctx, id, func(rows pgx.Rows) error {
		if !rows.Next() {
			return errors.New("row 2 not committed")
		}
		return rows.Scan(&owner)
	}, "SELECT owner FROM "+tbl+" WHERE id = 2")
	if err != nil || owner != "u7" {
		t.Fatalf("row 2: owner %q, %v; want u7 (the identity's settings)", owner, err)
	}
}

// A failing statement rolls back the ones before it, and the connection
// goes back to the pool usable (rolled back, not discarded).
func TestBatchRollsBackWhenAStatementFails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, db, a, _ := setup(t)
	id := tenantdb.Identity{TenantRef: a, Role: tenantdb.RoleService}
	tbl := tenantdb.Table(a, "items")
	before := db.Pool().Stat().NewConnsCount()
	for range 5 {
		b := &pgx.Batch{}
		b.Queue("INSERT INTO " + tbl + " VALUES (10, 'x')")
		b.Queue("INSERT INTO " + tbl + " VALUES (1, 'duplicate')")
		err := db.Batch(ctx, id, b, func(br pgx.BatchResults) error {
			for range 2 {
				if _, err := br.Exec(); err != nil {
					return err
				}
			}
			return nil
		})
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "23505" {
			t.Fatalf("Batch = %v, want the unique violation", err)
		}
	}
	var n int
	err := db.Read(ctx, id, func(rows pgx.Rows) error {
		rows.Next()
		return rows.Scan(&n)
	}, "SELECT count(*) FROM "+tbl)
	if err != nil || n != 1 {
		t.Fatalf("%d rows after failed batches (%v), want 1", n, err)
	}
	// The pool may still open a connection or two of its own, but not
	// one per failure.
	if grew := db.Pool().Stat().NewConnsCount() - before; grew >= 5 {
		t.Fatalf("the pool opened %d connections during 5 failed batches: failed transactions were discarded, not rolled back", grew)
	}
	if err := db.Batch(ctx, tenantdb.Identity{TenantRef: "x'; DROP", Role: tenantdb.RoleService}, &pgx.Batch{}, func(pgx.BatchResults) error { return nil }); err == nil {
		t.Fatal("Batch accepted a bad identity")
	}
}

// Concurrent first uses make the tables once and all succeed; later uses
// find them.
func TestEnsureTables(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, db, a, _ := setup(t)
	id := tenantdb.Identity{TenantRef: a, Role: tenantdb.RoleService}
	tbl := tenantdb.Table(a, "lazy")
	ddl := "CREATE TABLE IF NOT EXISTS " + tbl + " (id int PRIMARY KEY)"
	ensure := func() (bool, error) {
		var existed bool
		err := db.Tx(ctx, id, tenantdb.TxOptions{}, func(q tenantdb.Querier) error {
			var err error
			existed, err = tenantdb.EnsureTables(ctx, q, "test.lazy."+a, ddl, tbl, tenantdb.Table(a, "items"))
			return err
		})
		return existed, err
	}
	errs := make(chan error, 8)
	for range 8 {
		go func() { _, err := ensure(); errs <- err }()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatalf("a concurrent first use failed: %v", err)
		}
	}
	existed, err := ensure()
	if err != nil || !existed {
		t.Fatalf("EnsureTables after the first uses = %v, %v; want existed", existed, err)
	}
}

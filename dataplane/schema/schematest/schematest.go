// Package schematest gives tests of package schema and its handlers a real,
// migrated region database with tenants provisioned in it, and drops the
// tenants' cluster-wide roles when the test ends.
package schematest

import (
	"context"
	"crypto/rand"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sovereign-backend/sovereign/dataplane/migrations"
	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
	"github.com/sovereign-backend/sovereign/dataplane/tenants"
	"github.com/sovereign-backend/sovereign/internal/migrate"
	"github.com/sovereign-backend/sovereign/internal/testenv"
)

// Region tracks the tenant refs a test makes, to drop their roles (which
// are shared by every database of the cluster) after its databases.
type Region struct {
	mu   sync.Mutex
	refs []string
}

// Database is one migrated region database.
type Database struct {
	Pool    *pgxpool.Pool
	DB      *tenantdb.DB
	Tenants *tenants.Store
	region  *Region
}

// New returns a Region and its first Database. Call it before opening
// anything else that depends on the tenants' roles.
func New(t testing.TB) (*Region, *Database) {
	t.Helper()
	r := &Region{}
	adminURL := testenv.AdminURL(t)
	// Registered before any database, so it runs after they are dropped.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, adminURL)
		if err != nil {
			t.Errorf("schematest: drop tenant roles: %v", err)
			return
		}
		defer conn.Close(ctx)
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, ref := range r.refs {
			if _, err := conn.Exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{tenants.SchemaName(ref)}.Sanitize()); err != nil {
				t.Errorf("schematest: drop role of tenant %s: %v", ref, err)
			}
		}
	})
	return r, r.Database(t)
}

// Database opens another fresh, migrated database of the region.
func (r *Region) Database(t testing.TB) *Database {
	t.Helper()
	pool := testenv.Pool(t)
	if _, err := migrate.Up(t.Context(), pool, migrate.Config{Schema: "dataplane", FS: migrations.FS, Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatalf("schematest: migrate: %v", err)
	}
	ts, err := tenants.New(tenants.Config{Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	return &Database{Pool: pool, DB: tenantdb.New(pool), Tenants: ts, region: r}
}

// NewRef returns a random 12-character tenant ref whose role is dropped
// when the test ends.
func (r *Region) NewRef() string {
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
	return ref
}

// Provision provisions tenant ref in d.
func (d *Database) Provision(t testing.TB, ref string) {
	t.Helper()
	if _, err := d.Tenants.Provision(t.Context(), tenants.ProvisionParams{Ref: ref}); err != nil {
		t.Fatalf("schematest: provision %s: %v", ref, err)
	}
}

// Tenant provisions a new tenant in d and returns its service identity:
// what a secret key of the tenant's project runs as.
func (d *Database) Tenant(t testing.TB) tenantdb.Identity {
	t.Helper()
	ref := d.region.NewRef()
	d.Provision(t, ref)
	return tenantdb.Identity{TenantRef: ref, Role: tenantdb.RoleService, KeyID: "key_" + ref}
}

package tenants_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sovereign-backend/sovereign/dataplane/migrations"
	"github.com/sovereign-backend/sovereign/dataplane/tenants"
	"github.com/sovereign-backend/sovereign/internal/migrate"
	"github.com/sovereign-backend/sovereign/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// newRef returns a random 12-character ref and drops its role when the test
// is over. Call it before opening the test's databases: cleanups run
// last-registered first, so the role is dropped after the databases that
// depend on it. Refs are random because roles are shared by every database
// of the cluster.
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
	t.Cleanup(func() { adminExec(t, adminURL, "DROP ROLE IF EXISTS "+ident(tenants.SchemaName(ref))) })
	return ref
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

func adminExec(t *testing.T, dbURL, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Errorf("connect: %v", err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Errorf("%s: %v", sql, err)
	}
}

func openMigrated(t *testing.T, dbURL string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := migrate.Up(t.Context(), pool, migrate.Config{Schema: "dataplane", FS: migrations.FS, Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	return pool
}

func newStore(t *testing.T, pool *pgxpool.Pool) *tenants.Store {
	t.Helper()
	s, err := tenants.New(tenants.Config{Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The pool's user needs no more than CREATEROLE and its database (as the
// package doc says): provisioning, working as the tenant role and purging
// all work for such a user.
func TestNonSuperuserWithCreateRole(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	adminURL := testenv.AdminURL(t)
	user := "sovtest_dp_" + randomHex(4)
	password := randomHex(16)
	adminExec(t, adminURL, "CREATE ROLE "+ident(user)+" LOGIN CREATEROLE PASSWORD '"+password+"'")
	t.Cleanup(func() { adminExec(t, adminURL, "DROP ROLE IF EXISTS "+ident(user)) })
	ref := newRef(t)
	dbURL := testenv.Database(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	adminExec(t, dbURL, "ALTER DATABASE "+ident(u.Path[1:])+" OWNER TO "+ident(user))
	u.User = url.UserPassword(user, password)
	pool := openMigrated(t, u.String())
	s := newStore(t, pool)

	tn, err := s.Provision(ctx, tenants.ProvisionParams{Ref: ref, Limits: tenants.Limits{Plan: "free"}})
	if err != nil {
		t.Fatalf("provision as a CREATEROLE user: %v", err)
	}
	if tn.State != tenants.StateActive || tn.Schema != "t_"+ref || tn.Limits.Plan != "free" {
		t.Fatalf("provisioned %+v", tn)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL ROLE "+ident(tn.Schema)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "CREATE TABLE "+ident(tn.Schema)+".notes (id bigint)")
		return err
	})
	if err != nil {
		t.Fatalf("work as the tenant role: %v", err)
	}
	if _, err := s.SetState(ctx, tenants.SetStateParams{Ref: ref, State: tenants.StateDeleting}); err != nil {
		t.Fatal(err)
	}
	if err := s.Purge(ctx, ref); err != nil {
		t.Fatalf("purge as a CREATEROLE user: %v", err)
	}
	var roles int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM pg_roles WHERE rolname = $1", tn.Schema).Scan(&roles); err != nil || roles != 0 {
		t.Fatalf("%d roles %s after purge (%v)", roles, tn.Schema, err)
	}
}

// Roles are cluster-wide: two databases of one cluster provisioning the same
// ref at once share the role, and neither fails.
func TestSameRefInTwoDatabasesAtOnce(t *testing.T) {
	t.Parallel()
	ref := newRef(t)
	stores := []*tenants.Store{
		newStore(t, openMigrated(t, testenv.Database(t))),
		newStore(t, openMigrated(t, testenv.Database(t))),
	}
	for range 3 { // again and again: later rounds find the role there
		var wg sync.WaitGroup
		errs := make([]error, len(stores))
		for i, s := range stores {
			wg.Go(func() { _, errs[i] = s.Provision(t.Context(), tenants.ProvisionParams{Ref: ref}) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
	}
}

// An existing NOLOGIN role is adopted; one that can log in, or a schema
// owned by another role, is refused, and nothing is recorded.
func TestExistingRoleOrSchema(t *testing.T) {
	t.Parallel()
	adminURL := testenv.AdminURL(t)
	adopt, login, schema := newRef(t), newRef(t), newRef(t)
	dbURL := testenv.Database(t)
	pool := openMigrated(t, dbURL)
	s := newStore(t, pool)
	ctx := t.Context()

	adminExec(t, adminURL, "CREATE ROLE "+ident("t_"+adopt)+" NOLOGIN")
	if _, err := s.Provision(ctx, tenants.ProvisionParams{Ref: adopt}); err != nil {
		t.Errorf("existing NOLOGIN role: %v", err)
	}

	adminExec(t, adminURL, "CREATE ROLE "+ident("t_"+login)+" LOGIN")
	if _, err := s.Provision(ctx, tenants.ProvisionParams{Ref: login}); !errors.Is(err, tenants.ErrConflict) {
		t.Errorf("existing LOGIN role: got %v, want ErrConflict", err)
	}

	adminExec(t, dbURL, "CREATE SCHEMA "+ident("t_"+schema))
	if _, err := s.Provision(ctx, tenants.ProvisionParams{Ref: schema}); !errors.Is(err, tenants.ErrConflict) {
		t.Errorf("schema owned by another role: got %v, want ErrConflict", err)
	}
	for _, ref := range []string{login, schema} {
		if _, err := s.Get(ctx, ref); !errors.Is(err, tenants.ErrNotFound) {
			t.Errorf("tenant %s: got %v, want it not recorded", ref, err)
		}
	}
	var roleExists bool
	if err := pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", "t_"+schema).Scan(&roleExists); err != nil || roleExists {
		t.Errorf("role t_%s exists=%v (%v) after a failed provision, want it rolled back", schema, roleExists, err)
	}
}

// Changed hears of every change, after it was committed, and its error is
// returned to the caller.
func TestChangedHook(t *testing.T) {
	t.Parallel()
	ref := newRef(t)
	pool := openMigrated(t, testenv.Database(t))
	ctx := t.Context()
	var (
		mu    sync.Mutex
		heard []string
		fail  error
	)
	s, err := tenants.New(tenants.Config{Pool: pool, Changed: func(_ context.Context, r string) error {
		mu.Lock()
		defer mu.Unlock()
		var state string
		if err := pool.QueryRow(ctx, "SELECT state FROM dataplane.tenants WHERE ref = $1", r).Scan(&state); err != nil {
			return err
		}
		heard = append(heard, state)
		return fail
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Provision(ctx, tenants.ProvisionParams{Ref: ref}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetState(ctx, tenants.SetStateParams{Ref: ref, State: tenants.StatePaused}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	fail = errors.New("broker down")
	mu.Unlock()
	if _, err := s.SetState(ctx, tenants.SetStateParams{Ref: ref, State: tenants.StateDeleting}); err == nil {
		t.Fatal("the hook's error was swallowed")
	}
	mu.Lock()
	fail = nil
	mu.Unlock()
	// The retry changes nothing but announces again.
	if _, err := s.SetState(ctx, tenants.SetStateParams{Ref: ref, State: tenants.StateDeleting}); err != nil {
		t.Fatal(err)
	}
	if err := s.Purge(ctx, ref); err != nil {
		t.Fatal(err)
	}
	want := []string{"active", "paused", "deleting", "deleting", "deleted"}
	if len(heard) != len(want) {
		t.Fatalf("hook saw states %v, want %v", heard, want)
	}
	for i := range want {
		if heard[i] != want[i] {
			t.Fatalf("hook saw states %v, want %v", heard, want)
		}
	}
}

func TestCanSet(t *testing.T) {
	t.Parallel()
	all := []tenants.State{tenants.StateProvisioning, tenants.StateActive, tenants.StatePaused, tenants.StateDeleting, tenants.StateDeleted}
	allowed := map[[2]tenants.State]bool{
		{tenants.StateActive, tenants.StateActive}:     true,
		{tenants.StateActive, tenants.StatePaused}:     true,
		{tenants.StateActive, tenants.StateDeleting}:   true,
		{tenants.StatePaused, tenants.StateActive}:     true,
		{tenants.StatePaused, tenants.StatePaused}:     true,
		{tenants.StatePaused, tenants.StateDeleting}:   true,
		{tenants.StateDeleting, tenants.StateDeleting}: true,
		{tenants.StateDeleted, tenants.StateDeleting}:  true,
	}
	for _, from := range all {
		for _, to := range all {
			if got := tenants.CanSet(from, to); got != allowed[[2]tenants.State{from, to}] {
				t.Errorf("CanSet(%s, %s) = %v", from, to, got)
			}
		}
	}
}

func TestValidRef(t *testing.T) {
	t.Parallel()
	for ref, want := range map[string]bool{
		"abcdefghijkl": true, "a1b2": true, "0123456789abcdefghijklmnopqrstuv": true,
		"": false, "abc": false, "ABCDEFGHIJKL": false, "abc_defghijk": false, "abcdefghijk\"": false,
		"0123456789abcdefghijklmnopqrstuvw": false, "abcdéfghijkl": false,
	} {
		if tenants.ValidRef(ref) != want {
			t.Errorf("ValidRef(%q) = %v", ref, !want)
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

package pgsetup_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sovereign-backend/sovereign/internal/pgsetup"
	"github.com/sovereign-backend/sovereign/internal/testenv"
	"github.com/sovereign-backend/sovereign/internal/token"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestEnsureMakesAnUnprivilegedOwner(t *testing.T) {
	ctx := context.Background()
	admin := testenv.AdminURL(t)
	suffix := token.New("")[:8]
	app := pgsetup.App{Role: "sovtest_app_" + lower(suffix), Password: token.New(""), Database: "sovtest_appdb_" + lower(suffix)}
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), admin)
		if err != nil {
			return
		}
		defer conn.Close(context.Background())
		_, _ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{app.Database}.Sanitize()+" WITH (FORCE)")
		_, _ = conn.Exec(context.Background(), "DROP ROLE IF EXISTS "+pgx.Identifier{app.Role}.Sanitize())
	})
	u, err := pgsetup.Ensure(ctx, admin, app, false)
	if err != nil {
		t.Fatal(err)
	}
	// Twice is fine (a restart), and fresh recreates the database.
	if _, err := pgsetup.Ensure(ctx, admin, app, true); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatalf("the app role cannot log in: %v", err)
	}
	defer conn.Close(ctx)
	var super, bypass, createRole bool
	var owner string
	err = conn.QueryRow(ctx, `SELECT r.rolsuper, r.rolbypassrls, r.rolcreaterole, pg_get_userbyid(d.datdba)
		FROM pg_roles r, pg_database d WHERE r.rolname = current_user AND d.datname = current_database()`).Scan(&super, &bypass, &createRole, &owner)
	if err != nil {
		t.Fatal(err)
	}
	if super || bypass || !createRole || owner != app.Role {
		t.Fatalf("superuser %v, bypassrls %v, createrole %v, database owner %q", super, bypass, createRole, owner)
	}
	if _, err := conn.Exec(ctx, "CREATE SCHEMA s; CREATE ROLE "+pgx.Identifier{app.Role + "_t"}.Sanitize()+" NOLOGIN; DROP ROLE "+pgx.Identifier{app.Role + "_t"}.Sanitize()); err != nil {
		t.Fatalf("the app role cannot create schemas and roles: %v", err)
	}
}

func TestBadNamesRefused(t *testing.T) {
	if _, err := pgsetup.Ensure(context.Background(), "postgres://unused", pgsetup.App{Role: "x; DROP", Database: "d"}, false); err == nil {
		t.Fatal("accepted a bad role name")
	}
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}

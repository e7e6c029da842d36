// Package pgsetup prepares a PostgreSQL server for the platform, as an
// operator would: a login role for the planes that is neither superuser nor
// BYPASSRLS (so row-level security binds it) but may create the tenants'
// roles (CREATEROLE), and a database that role owns. `sovereign dev`, the
// test platforms and the benchmarks use it; production does the same by
// hand (docs/configuration.md).
package pgsetup

import (
	"context"
	"fmt"
	"net/url"
	"regexp"

	"github.com/jackc/pgx/v5"
)

var validName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// App is the planes' login role and database.
type App struct {
	// Role is the login role's name.
	Role string
	// Password is the role's password.
	Password string
	// Database is the database the role owns.
	Database string
}

// Ensure connects to adminURL (a superuser) and makes app's role (or resets
// its password and attributes) and database; fresh drops the database
// first. It returns the URL the planes use: adminURL with app's role,
// password and database.
func Ensure(ctx context.Context, adminURL string, app App, fresh bool) (string, error) {
	if !validName.MatchString(app.Role) || !validName.MatchString(app.Database) {
		return "", fmt.Errorf("pgsetup: invalid role or database name %q, %q", app.Role, app.Database)
	}
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", fmt.Errorf("pgsetup: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	role, db := pgx.Identifier{app.Role}.Sanitize(), pgx.Identifier{app.Database}.Sanitize()

	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", app.Role).Scan(&exists); err != nil {
		return "", fmt.Errorf("pgsetup: look up role: %w", err)
	}
	verb := "CREATE"
	if exists {
		verb = "ALTER"
	}
	// DDL takes no parameters; the password is quoted as a literal by the
	// server itself.
	var lit string
	if err := conn.QueryRow(ctx, "SELECT quote_literal($1)", app.Password).Scan(&lit); err != nil {
		return "", fmt.Errorf("pgsetup: quote password: %w", err)
	}
	if _, err := conn.Exec(ctx, verb+" ROLE "+role+" LOGIN NOSUPERUSER NOBYPASSRLS CREATEROLE NOCREATEDB PASSWORD "+lit); err != nil {
		return "", fmt.Errorf("pgsetup: %s role %s: %w", verb, app.Role, err)
	}
	if fresh {
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)"); err != nil {
			return "", fmt.Errorf("pgsetup: drop database %s: %w", app.Database, err)
		}
	}
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", app.Database).Scan(&exists); err != nil {
		return "", fmt.Errorf("pgsetup: look up database: %w", err)
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+db+" OWNER "+role); err != nil {
			return "", fmt.Errorf("pgsetup: create database %s: %w", app.Database, err)
		}
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		return "", fmt.Errorf("pgsetup: parse URL: %w", err)
	}
	u.User = url.UserPassword(app.Role, app.Password)
	u.Path = "/" + app.Database
	return u.String(), nil
}

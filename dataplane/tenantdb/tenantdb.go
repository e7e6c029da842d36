// Package tenantdb runs a request's SQL as DESIGN.md's "Tenancy" says: in one
// transaction that has switched to the tenant's role (t_<ref>, which owns the
// tenant's schema and has no other rights), set search_path to the tenant's
// schema, and recorded the caller's identity in sovereign.* settings that the
// tables' forced row-level-security policies read. BEGIN and all of that go
// to the server in one round trip (a pgx batch), not four.
//
// Generated SQL still names every table with its schema ("t_ref"."posts"):
// statements are prepared and cached by their text, and search_path must
// never decide which tenant's table a cached statement touches.
package tenantdb

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Roles a caller can have; policies compare sovereign.role with them.
const (
	// RoleService is a secret API key: full access.
	RoleService = "service"
	// RoleAnon is a publishable key without a signed-in user.
	RoleAnon = "anon"
	// RoleAuthenticated is a signed-in end user.
	RoleAuthenticated = "authenticated"
)

// Identity is who a request runs for.
type Identity struct {
	// TenantRef is the project's ref; the request runs as role t_<ref>.
	TenantRef string
	// Role is RoleService, RoleAnon or RoleAuthenticated.
	Role string
	// UserID is the signed-in end user's id, or "".
	UserID string
	// AuthRole is what access rules see as auth.role: "service", "anon",
	// or the user's tenant-defined role ("authenticated" by default).
	// Empty means Role.
	AuthRole string
	// AAL is the user's authenticator assurance level, "aal1" or "aal2";
	// "" without a user.
	AAL string
	// Claims is the user's access-token claims as a JSON object; "" means
	// {}.
	Claims string
	// KeyID is the API key's id.
	KeyID string
}

var validRef = regexp.MustCompile(`^[a-z0-9]{4,32}$`)

// Schema is the tenant's schema (and role) name for ref.
func Schema(ref string) string { return "t_" + ref }

// Table is the schema-qualified, quoted name of a tenant table.
func Table(ref, table string) string { return pgx.Identifier{Schema(ref), table}.Sanitize() }

// Querier is what a transaction offers: the usual pgx calls.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
	CopyFrom(ctx context.Context, tableName pgx.Identifier, columnNames []string, rowSrc pgx.CopyFromSource) (int64, error)
}

// DB runs tenant transactions on a pool.
type DB struct{ pool *pgxpool.Pool }

// New returns a DB on pool. The pool's user must be a member of every
// tenant role (the admin service grants it at provisioning).
func New(pool *pgxpool.Pool) *DB { return &DB{pool: pool} }

// Pool is the underlying pool, for system-schema queries.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// TxOptions adjust a transaction.
type TxOptions struct {
	// ReadOnly starts the transaction READ ONLY.
	ReadOnly bool
}

// setup switches to the tenant's role and records the caller for the
// tables' policies, which read these settings with current_setting(…, true).
const setup = `SELECT set_config('role', $1, true), set_config('search_path', $2, true),
	set_config('sovereign.role', $3, true), set_config('sovereign.uid', $4, true),
	set_config('sovereign.key_id', $5, true), set_config('sovereign.auth_role', $6, true),
	set_config('sovereign.aal', $7, true), set_config('sovereign.claims', $8, true)`

func (id Identity) check() error {
	if !validRef.MatchString(id.TenantRef) {
		return fmt.Errorf("tenantdb: invalid tenant ref %q", id.TenantRef)
	}
	switch id.Role {
	case RoleService, RoleAnon, RoleAuthenticated:
	default:
		return fmt.Errorf("tenantdb: invalid role %q", id.Role)
	}
	return nil
}

func (id Identity) queueSetup(b *pgx.Batch, opts TxOptions) {
	if opts.ReadOnly {
		b.Queue("BEGIN READ ONLY")
	} else {
		b.Queue("BEGIN")
	}
	schema := Schema(id.TenantRef)
	authRole := id.AuthRole
	if authRole == "" {
		authRole = id.Role
	}
	claims := id.Claims
	if claims == "" {
		claims = "{}"
	}
	b.Queue(setup, schema, pgx.Identifier{schema}.Sanitize(), id.Role, id.UserID, id.KeyID, authRole, id.AAL, claims)
}

// Tx runs fn in one transaction for id and commits when fn returns nil;
// otherwise it rolls back and returns fn's error. BEGIN and the identity
// setup cost one round trip together.
func (db *DB) Tx(ctx context.Context, id Identity, opts TxOptions, fn func(q Querier) error) (err error) {
	if err := id.check(); err != nil {
		return err
	}
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("tenantdb: acquire: %w", err)
	}
	// A connection released inside a transaction is discarded by pgxpool,
	// so an aborted request never leaks its role or settings to the next.
	defer conn.Release()
	b := &pgx.Batch{}
	id.queueSetup(b, opts)
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("tenantdb: begin: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_, _ = conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
			panic(p)
		}
		if err != nil {
			if _, rerr := conn.Exec(context.WithoutCancel(ctx), "ROLLBACK"); rerr != nil {
				conn.Conn().Close(context.WithoutCancel(ctx))
			}
		}
	}()
	if err := fn(conn); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("tenantdb: commit: %w", err)
	}
	return nil
}

// setupResults reads the results of BEGIN and the setup (queueSetup)
// from br.
func setupResults(br pgx.BatchResults) []error {
	var errs []error
	for range 2 {
		if _, err := br.Exec(); err != nil {
			errs = append(errs, fmt.Errorf("tenantdb: begin: %w", err))
		}
	}
	return errs
}

// Batch runs the statements queued in b as one transaction for id, with
// BEGIN, the setup, b's statements and COMMIT in a single round trip
// (Tx needs three). read consumes the results of b's statements, in order,
// and nothing else. A statement that fails aborts the transaction: the
// rest are skipped, the COMMIT is not run, the transaction is rolled back
// and nothing is written. Because the COMMIT travels with the statements,
// an error of read's own (one that is not a statement's) cannot undo them:
// use Batch where the statements succeeding is the outcome (a single
// write), and Tx where Go code decides between the statements or before
// the commit.
func (db *DB) Batch(ctx context.Context, id Identity, b *pgx.Batch, read func(pgx.BatchResults) error) error {
	if err := id.check(); err != nil {
		return err
	}
	full := &pgx.Batch{}
	id.queueSetup(full, TxOptions{})
	full.QueuedQueries = append(full.QueuedQueries, b.QueuedQueries...)
	full.Queue("COMMIT")
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("tenantdb: acquire: %w", err)
	}
	defer conn.Release()
	br := conn.SendBatch(ctx, full)
	errs := setupResults(br)
	if len(errs) == 0 {
		if err := read(br); err != nil {
			errs = append(errs, err)
		} else if _, err := br.Exec(); err != nil {
			errs = append(errs, fmt.Errorf("tenantdb: commit: %w", err))
		}
	}
	if err := br.Close(); err != nil && len(errs) == 0 {
		errs = append(errs, err)
	}
	if pc := conn.Conn().PgConn(); !pc.IsClosed() && pc.TxStatus() != 'I' {
		// A statement failed and left the transaction aborted: end it
		// here, so the connection returns to the pool instead of being
		// discarded (pgxpool drops one released inside a transaction).
		if _, err := conn.Exec(context.WithoutCancel(ctx), "ROLLBACK"); err != nil {
			conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}
	return errors.Join(errs...)
}

// Read runs one read-only query for id and hands its rows to scan, with
// BEGIN, the setup, the query and COMMIT in a single round trip. scan must
// consume the rows; it must not keep them.
func (db *DB) Read(ctx context.Context, id Identity, scan func(pgx.Rows) error, sql string, args ...any) error {
	if err := id.check(); err != nil {
		return err
	}
	b := &pgx.Batch{}
	id.queueSetup(b, TxOptions{ReadOnly: true})
	b.Queue(sql, args...)
	b.Queue("COMMIT")
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("tenantdb: acquire: %w", err)
	}
	defer conn.Release()
	br := conn.SendBatch(ctx, b)
	errs := setupResults(br)
	if len(errs) == 0 {
		rows, err := br.Query()
		if err == nil {
			err = scan(rows)
			rows.Close()
			if err == nil {
				err = rows.Err()
			}
		}
		if err != nil {
			errs = append(errs, err)
		} else if _, err := br.Exec(); err != nil {
			errs = append(errs, fmt.Errorf("tenantdb: commit: %w", err))
		}
	}
	if err := br.Close(); err != nil && len(errs) == 0 {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

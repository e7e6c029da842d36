// Package migrate applies embedded SQL migrations to a system schema, in
// order, once, when a server starts.
//
// Migrations are files named NNNN_description.sql (four or more digits, then
// an underscore, then lower-case letters, digits and underscores) at the root
// of an fs.FS, usually an embed.FS narrowed with fs.Sub. Their versions must
// be unique and at least 1; gaps are allowed. Files not ending in .sql and
// directories are ignored; a .sql file with any other name is an error, so a
// typo never silently skips a migration.
//
// Bookkeeping lives in <schema>.schema_migrations, one row per applied
// migration with the SHA-256 of the file's bytes. An applied migration is
// immutable: a file changed, renamed or removed after it was applied, or a
// new file older than the newest applied one, stops Up before it applies
// anything.
//
// Up is safe to call from several nodes at once: every run holds a
// session-level advisory lock keyed by the schema name on one dedicated
// connection, so runs on one schema are serialized and each migration is
// applied exactly once. Each migration runs in its own transaction together
// with its bookkeeping row, so a failing migration leaves nothing of itself.
// A migration therefore must not contain statements that cannot run inside a
// transaction block (CREATE INDEX CONCURRENTLY, VACUUM, ...) nor COMMIT or
// ROLLBACK of its own.
//
// Migrations run with the connection's default search_path; name every object
// with its schema ("controlplane"."accounts"), as all generated SQL does.
package migrate

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Config says where migrations come from and where their bookkeeping lives.
type Config struct {
	// Schema is the system schema that holds the schema_migrations table,
	// e.g. "controlplane". It is created when missing. It must match
	// ^[a-z_][a-z0-9_]{0,62}$. It also keys the advisory lock, so runs for
	// different schemas do not wait for each other. Required.
	Schema string

	// FS holds the migration files at its root. Required.
	FS fs.FS

	// Logger receives one Info record per applied migration. Nil discards.
	Logger *slog.Logger
}

// Applied is a migration that Up applied.
type Applied struct {
	// Version is the number the file name starts with.
	Version int
	// Name is the file name, e.g. "0001_init.sql".
	Name string
	// Checksum is the lower-case hex SHA-256 of the file's bytes.
	Checksum string
	// Duration is the wall time the migration's transaction took, commit
	// included.
	Duration time.Duration
}

// State is one migration file and whether it has been applied.
type State struct {
	// Version is the number the file name starts with.
	Version int
	// Name is the file name, e.g. "0001_init.sql".
	Name string
	// Checksum is the lower-case hex SHA-256 of the file's bytes.
	Checksum string
	// AppliedAt is when the migration was committed; the zero time while it
	// is pending.
	AppliedAt time.Time
}

// Pending reports whether the migration has not been applied yet.
func (s State) Pending() bool { return s.AppliedAt.IsZero() }

var (
	schemaPattern = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)
	filePattern   = regexp.MustCompile(`^([0-9]{4,})_([a-z0-9][a-z0-9_]*)\.sql$`)
)

// migration is one parsed migration file.
type migration struct {
	version  int
	name     string
	sql      string
	checksum string
}

// record is one row of schema_migrations.
type record struct {
	version   int
	name      string
	checksum  string
	appliedAt time.Time
}

// Up applies, in version order, every migration in cfg.FS that the database
// does not have yet, and returns those it applied (empty when the database
// was up to date). Before applying anything it checks that every applied
// migration still has its file, unchanged, and that no pending file is older
// than the newest applied one.
//
// When several processes call Up at once on the same database and schema, one
// applies the migrations and the others wait for it and then find nothing to
// do. On error the returned slice holds the migrations applied before it.
func Up(ctx context.Context, pool *pgxpool.Pool, cfg Config) ([]Applied, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	migrations, err := load(cfg.FS)
	if err != nil {
		return nil, err
	}

	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: acquire connection: %w", err)
	}
	// The connection leaves the pool for good: migrations may have changed
	// its session state (SET without LOCAL, temporary objects), and closing
	// it also ends the advisory lock should the explicit unlock fail.
	c := conn.Hijack()
	defer c.Close(context.WithoutCancel(ctx))

	key := lockKey(cfg.Schema)
	if _, err := c.Exec(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
		return nil, fmt.Errorf("migrate: lock schema %s: %w", cfg.Schema, err)
	}
	defer func() {
		if c.IsClosed() {
			return // a cancelled query closed it, which ended the lock
		}
		var released bool
		err := c.QueryRow(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", key).Scan(&released)
		if err != nil || !released {
			// Harmless: closing the connection ends the session and its lock.
			cfg.Logger.WarnContext(ctx, "advisory unlock failed",
				"schema", cfg.Schema, "released", released, "error", err)
		}
	}()

	if err := ensureTable(ctx, c, cfg.Schema); err != nil {
		return nil, err
	}
	records, err := readRecords(ctx, c, cfg.Schema)
	if err != nil {
		return nil, err
	}
	pending, err := plan(migrations, records)
	if err != nil {
		return nil, err
	}

	applied := []Applied{}
	for _, m := range pending {
		a, err := apply(ctx, c, cfg.Schema, m)
		if err != nil {
			return applied, err
		}
		cfg.Logger.InfoContext(ctx, "migration applied",
			"schema", cfg.Schema, "version", a.Version, "name", a.Name, "duration", a.Duration)
		applied = append(applied, a)
	}
	return applied, nil
}

// Status lists every migration file in version order with when it was
// applied, or as pending. It takes no lock and creates nothing; it returns
// the same consistency errors as Up would.
func Status(ctx context.Context, pool *pgxpool.Pool, cfg Config) ([]State, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	migrations, err := load(cfg.FS)
	if err != nil {
		return nil, err
	}

	var exists bool
	table := pgx.Identifier{cfg.Schema, "schema_migrations"}.Sanitize()
	if err := pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", table).Scan(&exists); err != nil {
		return nil, fmt.Errorf("migrate: find migrations table: %w", err)
	}
	var records []record
	if exists {
		if records, err = readRecords(ctx, pool, cfg.Schema); err != nil {
			return nil, err
		}
	}
	if _, err := plan(migrations, records); err != nil {
		return nil, err
	}

	appliedAt := make(map[int]time.Time, len(records))
	for _, r := range records {
		appliedAt[r.version] = r.appliedAt
	}
	states := make([]State, len(migrations))
	for i, m := range migrations {
		states[i] = State{Version: m.version, Name: m.name, Checksum: m.checksum, AppliedAt: appliedAt[m.version]}
	}
	return states, nil
}

// withDefaults returns cfg with defaults filled in, or an error when a
// required field is missing or invalid.
func (cfg Config) withDefaults() (Config, error) {
	if !schemaPattern.MatchString(cfg.Schema) {
		return cfg, fmt.Errorf("migrate: schema %q must match %s", cfg.Schema, schemaPattern)
	}
	if cfg.FS == nil {
		return cfg, errors.New("migrate: config has no FS")
	}
	cfg.Logger = cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler))
	return cfg, nil
}

// lockKey derives the advisory lock key from the schema name: a 64-bit
// FNV-1a hash, stable across processes, versions and architectures.
func lockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("sovereign.migrate." + schema))
	return int64(h.Sum64())
}

// load reads and validates the migration files at the root of fsys, sorted
// by version.
func load(fsys fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("migrate: read migrations: %w", err)
	}
	var (
		migrations []migration
		errs       []error
		byVersion  = map[int]string{}
	)
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.EqualFold(path.Ext(name), ".sql") {
			continue
		}
		match := filePattern.FindStringSubmatch(name)
		if match == nil {
			errs = append(errs, fmt.Errorf("migrate: file %s: name must look like 0001_description.sql (digits, underscore, lower-case letters, digits and underscores)", name))
			continue
		}
		version, err := strconv.Atoi(match[1])
		if err != nil || version < 1 {
			errs = append(errs, fmt.Errorf("migrate: file %s: version must be a whole number from 1 that fits in 64 bits", name))
			continue
		}
		if other, ok := byVersion[version]; ok {
			errs = append(errs, fmt.Errorf("migrate: files %s and %s have the same version %d", other, name, version))
			continue
		}
		byVersion[version] = name
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			errs = append(errs, fmt.Errorf("migrate: read %s: %w", name, err))
			continue
		}
		if !utf8.Valid(body) {
			errs = append(errs, fmt.Errorf("migrate: file %s is not valid UTF-8", name))
			continue
		}
		sum := sha256.Sum256(body)
		migrations = append(migrations, migration{
			version:  version,
			name:     name,
			sql:      string(body),
			checksum: hex.EncodeToString(sum[:]),
		})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	slices.SortFunc(migrations, func(a, b migration) int { return cmp.Compare(a.version, b.version) })
	return migrations, nil
}

// ensureTable creates the schema and the bookkeeping table when missing. It
// looks before it creates so that a role without CREATE privilege can still
// run Up on a database that is already set up. The caller holds the lock.
func ensureTable(ctx context.Context, c *pgx.Conn, schema string) error {
	var schemaExists, tableExists bool
	table := pgx.Identifier{schema, "schema_migrations"}.Sanitize()
	err := c.QueryRow(ctx,
		"SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1), to_regclass($2) IS NOT NULL",
		schema, table).Scan(&schemaExists, &tableExists)
	if err != nil {
		return fmt.Errorf("migrate: look up schema %s: %w", schema, err)
	}
	if !schemaExists {
		if _, err := c.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize()); err != nil {
			return fmt.Errorf("migrate: create schema %s: %w", schema, err)
		}
	}
	if !tableExists {
		_, err := c.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+table+` (
	version bigint PRIMARY KEY,
	name text NOT NULL,
	checksum text NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now()
)`)
		if err != nil {
			return fmt.Errorf("migrate: create %s: %w", table, err)
		}
	}
	return nil
}

// querier is what readRecords needs of a *pgx.Conn or a *pgxpool.Pool.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// readRecords returns the rows of schema_migrations in version order.
func readRecords(ctx context.Context, c querier, schema string) ([]record, error) {
	table := pgx.Identifier{schema, "schema_migrations"}.Sanitize()
	rows, err := c.Query(ctx, "SELECT version, name, checksum, applied_at FROM "+table+" ORDER BY version")
	if err != nil {
		return nil, fmt.Errorf("migrate: read %s: %w", table, err)
	}
	records, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (record, error) {
		var r record
		err := row.Scan(&r.version, &r.name, &r.checksum, &r.appliedAt)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("migrate: read %s: %w", table, err)
	}
	return records, nil
}

// plan checks the files against the applied records and returns the
// migrations still to apply, in order. It reports every inconsistency at
// once, so an operator fixes them in one go.
func plan(migrations []migration, records []record) ([]migration, error) {
	files := make(map[int]migration, len(migrations))
	for _, m := range migrations {
		files[m.version] = m
	}
	var errs []error
	latest := 0
	done := make(map[int]bool, len(records))
	for _, r := range records {
		done[r.version] = true
		latest = max(latest, r.version)
		m, ok := files[r.version]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("migrate: migration %s (version %d) is applied but has no file: the database is newer than this binary", r.name, r.version))
		case m.name != r.name:
			errs = append(errs, fmt.Errorf("migrate: migration version %d was applied as %s but the file is now %s", r.version, r.name, m.name))
		case m.checksum != r.checksum:
			errs = append(errs, fmt.Errorf("migrate: migration %s was changed after it was applied: recorded checksum %s, file %s", m.name, r.checksum, m.checksum))
		}
	}
	var pending []migration
	for _, m := range migrations {
		if done[m.version] {
			continue
		}
		if m.version < latest {
			errs = append(errs, fmt.Errorf("migrate: migration %s is older than the newest applied version %d: give it a version above %d", m.name, latest, latest))
			continue
		}
		pending = append(pending, m)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return pending, nil
}

// apply runs one migration and records it in one transaction.
func apply(ctx context.Context, c *pgx.Conn, schema string, m migration) (Applied, error) {
	start := time.Now()
	tx, err := c.Begin(ctx)
	if err != nil {
		return Applied{}, fmt.Errorf("migrate: migration %s: begin: %w", m.name, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after commit; the first error is the one that matters

	// No arguments: pgx sends the file with the simple protocol, so it may
	// hold several statements.
	if _, err := tx.Exec(ctx, m.sql); err != nil {
		return Applied{}, execError(m, err)
	}
	table := pgx.Identifier{schema, "schema_migrations"}.Sanitize()
	if _, err := tx.Exec(ctx, "INSERT INTO "+table+" (version, name, checksum) VALUES ($1, $2, $3)",
		m.version, m.name, m.checksum); err != nil {
		return Applied{}, fmt.Errorf("migrate: migration %s: record: %w", m.name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return Applied{}, fmt.Errorf("migrate: migration %s: commit: %w", m.name, err)
	}
	return Applied{Version: m.version, Name: m.name, Checksum: m.checksum, Duration: time.Since(start)}, nil
}

// execError names the file and, for a Postgres error with a position, the
// line and column in it, and keeps the *pgconn.PgError for errors.As.
func execError(m migration, err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return fmt.Errorf("migrate: migration %s: %w", m.name, err)
	}
	where := ""
	if pgErr.Position > 0 {
		line, col := lineColumn(m.sql, int(pgErr.Position))
		where = fmt.Sprintf(": line %d, column %d", line, col)
	}
	var more strings.Builder
	if pgErr.Detail != "" {
		fmt.Fprintf(&more, "; detail: %s", pgErr.Detail)
	}
	if pgErr.Hint != "" {
		fmt.Fprintf(&more, "; hint: %s", pgErr.Hint)
	}
	return fmt.Errorf("migrate: migration %s%s: %w%s", m.name, where, err, more.String())
}

// lineColumn converts a Postgres error position (1-based, in characters)
// into a 1-based line and column of sql.
func lineColumn(sql string, pos int) (line, col int) {
	line, col = 1, 1
	n := 1
	for _, r := range sql {
		if n >= pos {
			break
		}
		n++
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

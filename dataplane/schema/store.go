package schema

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
	"github.com/sovereign-backend/sovereign/internal/broker"
)

const (
	metaTable    = "_collections"
	historyTable = "_schema_history"
)

// Defaults of StoreConfig.
const (
	DefaultChannel        = "dataplane.schema.invalidate"
	DefaultCacheTTL       = time.Minute
	DefaultCacheSize      = 10000
	DefaultMaxCollections = 1000
	DefaultLockTimeout    = 5 * time.Second
	DefaultMinBackoff     = 100 * time.Millisecond
	DefaultMaxBackoff     = 5 * time.Second
)

// StoreConfig configures a Store.
type StoreConfig struct {
	// DB runs the tenants' transactions. Required.
	DB *tenantdb.DB
	// Broker carries cache invalidations between the region's nodes; the
	// in-process broker does for a single node. Required.
	Broker broker.Broker
	// Channel is the broker channel for invalidations; every node of a
	// region must use the same. Messages name the tenant. Default
	// DefaultChannel.
	Channel string
	// CacheTTL is how long a definition is cached, at most: the bound on
	// staleness should an invalidation be lost. Default 1 minute; negative
	// disables the cache.
	CacheTTL time.Duration
	// CacheSize is the most definitions cached (across tenants); beyond it
	// an arbitrary entry makes room. Default 10000; negative disables the
	// cache.
	CacheSize int
	// MaxCollections is the most collections a project may have; Create
	// past it is ErrTooManyCollections. Default 1000; negative means no
	// limit.
	MaxCollections int
	// LockTimeout is how long a schema change waits for a table lock that
	// other work holds before it fails with ErrBusy. Default 5s.
	LockTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait before Run subscribes again
	// after the broker failed; it doubles from MinBackoff up to MaxBackoff.
	// Defaults 100ms and 5s.
	MinBackoff, MaxBackoff time.Duration
	// Logger for subscription trouble and failed announcements. Default
	// slog.Default().
	Logger *slog.Logger
}

// Store keeps the tenants' collections: their definitions, the tables they
// are, and the history of their changes. It is safe for concurrent use.
// Start Run in a goroutine to enable the definition cache.
type Store struct {
	db       *tenantdb.DB
	broker   broker.Broker
	channel  string
	maxColls int
	lockMS   string
	minBack  time.Duration
	maxBack  time.Duration
	log      *slog.Logger
	cache    *cache
	origin   string
}

// NewStore returns a Store configured by cfg.
func NewStore(cfg StoreConfig) (*Store, error) {
	if cfg.DB == nil {
		return nil, errors.New("schema: config has no DB")
	}
	if cfg.Broker == nil {
		return nil, errors.New("schema: config has no Broker")
	}
	cfg.Channel = cmp.Or(cfg.Channel, DefaultChannel)
	cfg.CacheTTL = cmp.Or(cfg.CacheTTL, DefaultCacheTTL)
	cfg.CacheSize = cmp.Or(cfg.CacheSize, DefaultCacheSize)
	cfg.MaxCollections = cmp.Or(cfg.MaxCollections, DefaultMaxCollections)
	cfg.LockTimeout = cmp.Or(cfg.LockTimeout, DefaultLockTimeout)
	cfg.MinBackoff = cmp.Or(cfg.MinBackoff, DefaultMinBackoff)
	cfg.MaxBackoff = max(cmp.Or(cfg.MaxBackoff, DefaultMaxBackoff), cfg.MinBackoff)
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	if cfg.LockTimeout < time.Millisecond {
		return nil, fmt.Errorf("schema: LockTimeout %v is below 1ms", cfg.LockTimeout)
	}
	return &Store{
		db:       cfg.DB,
		broker:   cfg.Broker,
		channel:  cfg.Channel,
		maxColls: cfg.MaxCollections,
		lockMS:   strconv.FormatInt(cfg.LockTimeout.Milliseconds(), 10),
		minBack:  cfg.MinBackoff,
		maxBack:  cfg.MaxBackoff,
		log:      cfg.Logger,
		cache:    newCache(cfg.CacheTTL, cfg.CacheSize),
		origin:   rand.Text(),
	}, nil
}

// definition is what _collections.definition holds.
type definition struct {
	Fields  []Field `json:"fields"`
	Indexes []Index `json:"indexes"`
	Rules   *Rules  `json:"rules,omitempty"`
}

func scanCollection(name string, def []byte, created, updated time.Time) (*Collection, error) {
	var d definition
	if err := json.Unmarshal(def, &d); err != nil {
		return nil, fmt.Errorf("decode definition of collection %s: %w", name, err)
	}
	return &Collection{Name: name, Fields: d.Fields, Indexes: d.Indexes, Rules: d.Rules, CreatedAt: created, UpdatedAt: updated}, nil
}

func encodeDefinition(c *Collection) ([]byte, error) {
	d := definition{Fields: c.Fields, Indexes: c.Indexes, Rules: c.Rules}
	if !d.Rules.Any() {
		d.Rules = nil
	}
	if d.Fields == nil {
		d.Fields = []Field{}
	}
	if d.Indexes == nil {
		d.Indexes = []Index{}
	}
	return json.Marshal(d)
}

// Get returns collection name of the tenant id speaks for: from the cache
// when it can, else from the database (one round trip). It returns an error
// wrapping ErrNotFound when there is no such collection, and an *InputError
// when name cannot be a collection's. The result is the caller's own copy.
// Get is on every records request's path; any identity may call it.
func (s *Store) Get(ctx context.Context, id tenantdb.Identity, name string) (*Collection, error) {
	if !namePattern.MatchString(name) {
		return nil, &InputError{Field: "name", Reason: nameProblem("collection", name)}
	}
	key := cacheKey{id.TenantRef, name}
	now := time.Now()
	e, ok := s.cache.Get(key, now)
	if !ok {
		gen := s.cache.Generation()
		var err error
		if e.c, err = s.load(ctx, id, name); err != nil {
			return nil, fmt.Errorf("get collection %s: %w", name, err)
		}
		s.cache.Put(key, e, gen, now)
	}
	if e.c == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	return e.c.Clone(), nil
}

// load reads collection name from the database; nil when there is none.
func (s *Store) load(ctx context.Context, id tenantdb.Identity, name string) (*Collection, error) {
	var c *Collection
	err := s.db.Read(ctx, id, func(rows pgx.Rows) error {
		for rows.Next() {
			var (
				def              []byte
				created, updated time.Time
			)
			if err := rows.Scan(&def, &created, &updated); err != nil {
				return err
			}
			var err error
			if c, err = scanCollection(name, def, created, updated); err != nil {
				return err
			}
		}
		return rows.Err()
	}, "SELECT definition, created_at, updated_at FROM "+tenantdb.Table(id.TenantRef, metaTable)+" WHERE name = $1", name)
	if isCode(err, "42P01") { // undefined_table: the tenant never made a collection
		return nil, nil
	}
	return c, err
}

// List returns the tenant's collections, by name.
func (s *Store) List(ctx context.Context, id tenantdb.Identity) ([]*Collection, error) {
	var out []*Collection
	err := s.db.Read(ctx, id, func(rows pgx.Rows) error {
		var err error
		out, err = scanCollections(rows)
		return err
	}, listSQL(id.TenantRef))
	if isCode(err, "42P01") {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list collections: %w", err)
	}
	return out, nil
}

func listSQL(ref string) string {
	return "SELECT name, definition, created_at, updated_at FROM " + tenantdb.Table(ref, metaTable) + " ORDER BY name"
}

func scanCollections(rows pgx.Rows) ([]*Collection, error) {
	var out []*Collection
	for rows.Next() {
		var (
			name             string
			def              []byte
			created, updated time.Time
		)
		if err := rows.Scan(&name, &def, &created, &updated); err != nil {
			return nil, err
		}
		c, err := scanCollection(name, def, created, updated)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// History returns a page of the tenant's schema history, oldest first, and
// the AfterID of the next page (0 on the last page).
func (s *Store) History(ctx context.Context, id tenantdb.Identity, p HistoryParams) ([]Change, int64, error) {
	switch {
	case p.Limit == 0:
		p.Limit = DefaultHistoryLimit
	case p.Limit < 0 || p.Limit > MaxHistoryLimit:
		return nil, 0, inputErr("limit", "must be 1 to %d (0 means %d), got %d", MaxHistoryLimit, DefaultHistoryLimit, p.Limit)
	}
	if p.AfterID < 0 {
		return nil, 0, inputErr("after_id", "must not be negative")
	}
	if p.Collection != "" && !namePattern.MatchString(p.Collection) {
		return nil, 0, &InputError{Field: "collection", Reason: nameProblem("collection", p.Collection)}
	}
	var out []Change
	err := s.db.Read(ctx, id, func(rows pgx.Rows) error {
		for rows.Next() {
			var (
				c    Change
				kind string
			)
			if err := rows.Scan(&c.ID, &c.At, &c.Collection, &kind, &c.Description, &c.SQL); err != nil {
				return err
			}
			c.Kind = ChangeKind(kind)
			out = append(out, c)
		}
		return rows.Err()
	}, "SELECT id, changed_at, collection, kind, description, sql FROM "+tenantdb.Table(id.TenantRef, historyTable)+
		" WHERE id > $1 AND ($2 = '' OR collection = $2) ORDER BY id LIMIT $3", p.AfterID, p.Collection, p.Limit+1)
	if isCode(err, "42P01") {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("schema history: %w", err)
	}
	var next int64
	if len(out) > p.Limit {
		out = out[:p.Limit]
		next = out[len(out)-1].ID
	}
	return out, next, nil
}

// Create makes collection c: validates it, creates its table with row-level
// security forced and ServicePolicy, its indexes, and records the change,
// in one transaction. Index names left empty are generated. Errors:
// *InputError (wrapping ErrNotFound for a relation to a missing
// collection), ErrAlreadyExists, ErrTooManyCollections, ErrServiceOnly.
func (s *Store) Create(ctx context.Context, id tenantdb.Identity, c Collection) (*Collection, error) {
	def, err := checkDefinition(c)
	if err != nil {
		return nil, err
	}
	var out *Collection
	err = s.change(ctx, id, func(tx *changeTx) error {
		all, err := tx.all()
		if err != nil {
			return err
		}
		names := make(map[string]bool, len(all))
		for _, other := range all {
			names[other.Name] = true
		}
		if names[def.Name] {
			return fmt.Errorf("%w: %s", ErrAlreadyExists, def.Name)
		}
		if s.maxColls >= 0 && len(all) >= s.maxColls {
			return fmt.Errorf("%w: a project has at most %d collections", ErrTooManyCollections, s.maxColls)
		}
		for i, f := range def.Fields {
			if f.Type == Relation && f.Collection != def.Name && !names[f.Collection] {
				return &InputError{Field: fmt.Sprintf("fields[%d].collection", i),
					Reason: fmt.Sprintf("no collection %q to relate to", f.Collection), Err: ErrNotFound}
			}
		}
		used, err := tx.nameUsed(def.Name)
		if err != nil {
			return err
		}
		if used {
			return inputErr("name", "%q is already the name of an index or constraint in this project", def.Name)
		}
		tx.taken[def.Name] = true
		pkey, err := tx.freeName([]string{def.Name}, "pkey")
		if err != nil {
			return err
		}
		tbl := tenantdb.Table(tx.ref, def.Name)
		cols := []string{
			ident(FieldID) + " uuid CONSTRAINT " + ident(pkey) + " PRIMARY KEY",
			ident(FieldCreatedAt) + " timestamptz NOT NULL DEFAULT now()",
			ident(FieldUpdatedAt) + " timestamptz NOT NULL DEFAULT now()",
			ident(FieldVersion) + " bigint NOT NULL DEFAULT 1",
		}
		for _, f := range def.Fields {
			col, err := tx.column(def.Name, f)
			if err != nil {
				return err
			}
			cols = append(cols, col)
		}
		stmts := []string{"CREATE TABLE " + tbl + " (\n    " + strings.Join(cols, ",\n    ") + "\n)"}
		stmts = append(stmts, rlsSQL(tbl)...)
		for i := range def.Indexes {
			ix := &def.Indexes[i]
			if err := tx.nameIndex(fmt.Sprintf("indexes[%d].name", i), def.Name, ix); err != nil {
				return err
			}
			stmts = append(stmts, indexSQL(tx.ref, def.Name, *ix))
		}
		desc := "create collection " + def.Name
		if len(def.Fields) > 0 {
			fs := make([]string, len(def.Fields))
			for i, f := range def.Fields {
				fs[i] = describeField(f)
			}
			desc += " with fields " + strings.Join(fs, ", ")
		}
		for _, ix := range def.Indexes {
			desc += "; " + describeIndex(ix)
		}
		if err := tx.exec("", stmts); err != nil {
			return err
		}
		// Change capture is plumbing, not part of the recorded history.
		if _, err := tx.q.Exec(ctx, captureTriggerSQL(tx.ref, def.Name)); err != nil {
			return fmt.Errorf("add change capture: %w", err)
		}
		enc, err := encodeDefinition(&def)
		if err != nil {
			return err
		}
		if err := tx.q.QueryRow(ctx, "INSERT INTO "+tenantdb.Table(tx.ref, metaTable)+" (name, definition) VALUES ($1, $2) RETURNING created_at, updated_at",
			def.Name, enc).Scan(&def.CreatedAt, &def.UpdatedAt); err != nil {
			return fmt.Errorf("record collection: %w", err)
		}
		out = &def
		return tx.record(def.Name, ChangeCreate, desc, stmts)
	})
	if err != nil {
		return nil, wrapChange("create collection", c.Name, err)
	}
	s.announce(ctx, id.TenantRef, def.Name)
	return out, nil
}

// Alter applies ops to collection name in order, in one transaction, all
// or nothing (see AlterOp), and returns the collection as it is after them.
// Errors: ErrNotFound, *InputError naming the op ("ops[1].add_field.type"),
// *PreconditionError when the data stands in the way, ErrBusy,
// ErrServiceOnly.
func (s *Store) Alter(ctx context.Context, id tenantdb.Identity, name string, ops []AlterOp) (*Collection, error) {
	if !namePattern.MatchString(name) {
		return nil, &InputError{Field: "name", Reason: nameProblem("collection", name)}
	}
	if len(ops) == 0 {
		return nil, inputErr("ops", "give at least one change")
	}
	if len(ops) > MaxAlterOps {
		return nil, inputErr("ops", "at most %d changes per call, got %d", MaxAlterOps, len(ops))
	}
	for i, op := range ops {
		if op.count() != 1 {
			return nil, inputErr(fmt.Sprintf("ops[%d]", i), "set exactly one change, got %d", op.count())
		}
	}
	var (
		out     *Collection
		changed bool
	)
	err := s.change(ctx, id, func(tx *changeTx) error {
		all, err := tx.all()
		if err != nil {
			return err
		}
		var c *Collection
		names := make(map[string]bool, len(all))
		for _, other := range all {
			names[other.Name] = true
			if other.Name == name {
				c = other
			}
		}
		if c == nil {
			return fmt.Errorf("%w: %s", ErrNotFound, name)
		}
		a := &alteration{tx: tx, c: c, names: names}
		for i, op := range ops {
			if err := a.apply(fmt.Sprintf("ops[%d]", i), op); err != nil {
				return err
			}
		}
		out = c
		if !a.changed {
			return nil
		}
		changed = true
		enc, err := encodeDefinition(c)
		if err != nil {
			return err
		}
		if err := tx.q.QueryRow(ctx, "UPDATE "+tenantdb.Table(tx.ref, metaTable)+" SET definition = $2, updated_at = now() WHERE name = $1 RETURNING updated_at",
			name, enc).Scan(&c.UpdatedAt); err != nil {
			return fmt.Errorf("record collection: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, wrapChange("alter collection", name, err)
	}
	if changed {
		s.announce(ctx, id.TenantRef, name)
	}
	return out, nil
}

// Drop deletes collection name with its records and records the change.
// Errors: ErrNotFound, *PreconditionError when another collection's
// relation points at it (a relation of the collection to itself does not
// count), ErrBusy, ErrServiceOnly.
func (s *Store) Drop(ctx context.Context, id tenantdb.Identity, name string) error {
	if !namePattern.MatchString(name) {
		return &InputError{Field: "name", Reason: nameProblem("collection", name)}
	}
	err := s.change(ctx, id, func(tx *changeTx) error {
		all, err := tx.all()
		if err != nil {
			return err
		}
		found := false
		var refs []string
		for _, other := range all {
			if other.Name == name {
				found = true
				continue
			}
			for _, f := range other.Fields {
				if f.Type == Relation && f.Collection == name {
					refs = append(refs, other.Name+"."+f.Name)
				}
			}
		}
		if !found {
			return fmt.Errorf("%w: %s", ErrNotFound, name)
		}
		if len(refs) > 0 {
			return &PreconditionError{Reason: fmt.Sprintf("collection %s cannot be dropped while relations point at it: %s; drop those fields first",
				name, strings.Join(refs, ", "))}
		}
		stmts := []string{"DROP TABLE " + tenantdb.Table(tx.ref, name)}
		if err := tx.exec("", stmts); err != nil {
			return err
		}
		if _, err := tx.q.Exec(ctx, "DELETE FROM "+tenantdb.Table(tx.ref, metaTable)+" WHERE name = $1", name); err != nil {
			return fmt.Errorf("forget collection: %w", err)
		}
		return tx.record(name, ChangeDrop, "drop collection "+name+" and its records", stmts)
	})
	if err != nil {
		return wrapChange("drop collection", name, err)
	}
	s.announce(ctx, id.TenantRef, name)
	return nil
}

// wrapChange adds context to internal errors and leaves the ones a caller
// acts on as they are, so their messages stay fit for the client.
func wrapChange(what, name string, err error) error {
	var (
		ie *InputError
		pe *PreconditionError
	)
	switch {
	case errors.As(err, &ie), errors.As(err, &pe),
		errors.Is(err, ErrNotFound), errors.Is(err, ErrAlreadyExists), errors.Is(err, ErrServiceOnly),
		errors.Is(err, ErrTooManyCollections), errors.Is(err, ErrBusy):
		return err
	}
	return fmt.Errorf("%s %s: %w", what, name, err)
}

// changeTx is one schema change's transaction.
type changeTx struct {
	ctx context.Context
	q   tenantdb.Querier
	ref string
	// taken holds the object names this change has handed out.
	taken map[string]bool
}

// change runs fn in a tenant transaction that holds the tenant's schema
// lock, has lock_timeout set, and has the metadata tables.
func (s *Store) change(ctx context.Context, id tenantdb.Identity, fn func(*changeTx) error) error {
	if id.Role != tenantdb.RoleService {
		return ErrServiceOnly
	}
	return s.db.Tx(ctx, id, tenantdb.TxOptions{}, func(q tenantdb.Querier) error {
		b := &pgx.Batch{}
		b.Queue("SELECT pg_advisory_xact_lock($1)", lockKey(id.TenantRef))
		b.Queue("SELECT set_config('lock_timeout', $1, true)", s.lockMS)
		var exists, capture bool
		b.Queue("SELECT to_regclass($1) IS NOT NULL, to_regclass($2) IS NOT NULL",
			tenantdb.Table(id.TenantRef, metaTable), tenantdb.Table(id.TenantRef, ChangesTable)).QueryRow(func(row pgx.Row) error {
			return row.Scan(&exists, &capture)
		})
		if err := q.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("lock schema: %w", err)
		}
		if !exists {
			if _, err := q.Exec(ctx, metaSQL(id.TenantRef)); err != nil {
				return fmt.Errorf("create schema tables: %w", err)
			}
		}
		if !capture {
			// Change capture (see ChangesTable): created with the metadata
			// tables, and added to the tenants whose metadata tables
			// predate it, with the trigger on each existing collection.
			if err := addCapture(ctx, q, id.TenantRef); err != nil {
				return err
			}
		}
		return fn(&changeTx{ctx: ctx, q: q, ref: id.TenantRef, taken: make(map[string]bool)})
	})
}

// addCapture creates the change log (captureSQL) in tenant ref's schema and
// adds the capture trigger to every collection's table.
func addCapture(ctx context.Context, q tenantdb.Querier, ref string) error {
	if _, err := q.Exec(ctx, captureSQL(ref)); err != nil {
		return fmt.Errorf("create change log: %w", err)
	}
	rows, err := q.Query(ctx, "SELECT name FROM "+tenantdb.Table(ref, metaTable))
	if err != nil {
		return fmt.Errorf("read collections: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("read collections: %w", err)
	}
	for _, name := range names {
		if _, err := q.Exec(ctx, captureTriggerSQL(ref, name)); err != nil {
			return fmt.Errorf("add change capture to %s: %w", name, err)
		}
	}
	return nil
}

// EnsureCapture creates tenant ref's change log (ChangesTable,
// ChangeHeadsTable and the capture trigger on every collection) when it
// does not exist yet: for tenants that have had no schema change since
// change capture was added. It runs as the tenant's service role and is
// cheap when the log exists.
func (s *Store) EnsureCapture(ctx context.Context, ref string) error {
	id := tenantdb.Identity{TenantRef: ref, Role: tenantdb.RoleService}
	var exists bool
	err := s.db.Read(ctx, id, func(rows pgx.Rows) error {
		if rows.Next() {
			return rows.Scan(&exists)
		}
		return rows.Err()
	}, "SELECT to_regclass($1) IS NOT NULL", tenantdb.Table(ref, ChangesTable))
	if err != nil || exists {
		return err
	}
	return s.change(ctx, id, func(*changeTx) error { return nil })
}

// metaSQL creates the tenant's metadata tables.
func metaSQL(ref string) string {
	meta := tenantdb.Table(ref, metaTable)
	hist := tenantdb.Table(ref, historyTable)
	svc := ident(ServicePolicy)
	return `
CREATE TABLE ` + meta + ` (
    name       text PRIMARY KEY,
    definition jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE ` + meta + ` ENABLE ROW LEVEL SECURITY;
ALTER TABLE ` + meta + ` FORCE ROW LEVEL SECURITY;
CREATE POLICY read_all ON ` + meta + ` FOR SELECT USING (true);
CREATE POLICY ` + svc + ` ON ` + meta + ` USING (` + serviceCheck + `) WITH CHECK (` + serviceCheck + `);
CREATE TABLE ` + hist + ` (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    changed_at  timestamptz NOT NULL DEFAULT now(),
    collection  text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('create', 'alter', 'drop')),
    description text NOT NULL,
    sql         text NOT NULL
);
CREATE INDEX ` + ident(historyTable+"_collection_idx") + ` ON ` + hist + ` (collection, id);
ALTER TABLE ` + hist + ` ENABLE ROW LEVEL SECURITY;
ALTER TABLE ` + hist + ` FORCE ROW LEVEL SECURITY;
CREATE POLICY ` + svc + ` ON ` + hist + ` USING (` + serviceCheck + `) WITH CHECK (` + serviceCheck + `);`
}

// lockKey is the tenant's schema-change advisory lock key: 64-bit FNV-1a
// of a string distinct from the one package tenants locks on.
func lockKey(ref string) int64 {
	h := fnv.New64a()
	h.Write([]byte("sovereign.dataplane.schema." + ref))
	return int64(h.Sum64())
}

// all reads every collection of the tenant.
func (tx *changeTx) all() ([]*Collection, error) {
	rows, err := tx.q.Query(tx.ctx, listSQL(tx.ref))
	if err != nil {
		return nil, fmt.Errorf("read collections: %w", err)
	}
	defer rows.Close()
	out, err := scanCollections(rows)
	if err != nil {
		return nil, fmt.Errorf("read collections: %w", err)
	}
	return out, nil
}

// nameUsed reports whether a relation (table, index, sequence) or a
// constraint of the tenant's schema is called name.
func (tx *changeTx) nameUsed(name string) (bool, error) {
	var used bool
	err := tx.q.QueryRow(tx.ctx, `
SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = $1 AND c.relname = $2)
    OR EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k JOIN pg_catalog.pg_namespace n ON n.oid = k.connamespace
               WHERE n.nspname = $1 AND k.conname = $2)`, tenantdb.Schema(tx.ref), name).Scan(&used)
	if err != nil {
		return false, fmt.Errorf("look up name %s: %w", name, err)
	}
	return used, nil
}

// freeName returns objectName(parts, suffix), or, when that is taken in
// the schema or by this change, the first free of parts_2_suffix,
// parts_3_suffix, …, and marks it taken.
func (tx *changeTx) freeName(parts []string, suffix string) (string, error) {
	for i := 1; ; i++ {
		name := objectName(parts, suffix)
		if i > 1 {
			name = objectName(append(parts[:len(parts):len(parts)], strconv.Itoa(i)), suffix)
		}
		if tx.taken[name] {
			continue
		}
		used, err := tx.nameUsed(name)
		if err != nil {
			return "", err
		}
		if !used {
			tx.taken[name] = true
			return name, nil
		}
	}
}

// column is f's column definition in table, with its constraints named.
func (tx *changeTx) column(table string, f Field) (string, error) {
	names := make(map[string]string)
	for _, suffix := range constraintSuffixes(f) {
		n, err := tx.freeName([]string{table, f.Name}, suffix)
		if err != nil {
			return "", err
		}
		names[suffix] = n
	}
	return columnDef(tx.ref, table, f, names)
}

// nameIndex gives ix a free generated name, or checks that the name it has
// is free (an *InputError for path when not).
func (tx *changeTx) nameIndex(path, table string, ix *Index) error {
	if ix.Name == "" {
		n, err := tx.freeName(append([]string{table}, ix.Fields...), "idx")
		ix.Name = n
		return err
	}
	used := tx.taken[ix.Name]
	if !used {
		var err error
		if used, err = tx.nameUsed(ix.Name); err != nil {
			return err
		}
	}
	if used {
		return inputErr(path, "%q is already the name of a collection, index or constraint in this project", ix.Name)
	}
	tx.taken[ix.Name] = true
	return nil
}

// exec runs stmts, turning what the data refuses into a
// *PreconditionError for path.
func (tx *changeTx) exec(path string, stmts []string) error {
	_, err := tx.q.Exec(tx.ctx, strings.Join(stmts, ";\n"))
	if err == nil {
		return nil
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return err
	}
	switch pgErr.Code {
	case "23505": // unique_violation
		return &PreconditionError{Field: path, Reason: "two or more records share a value that would have to be unique; make the values distinct first"}
	case "23502": // not_null_violation
		return &PreconditionError{Field: path, Reason: "records have no value for a field that would have to be required"}
	case "23514": // check_violation
		return &PreconditionError{Field: path, Reason: "records have values the change does not allow"}
	case "54000": // program_limit_exceeded: an index row too large
		return &PreconditionError{Field: path, Reason: "records have values too large to index"}
	case "55P03": // lock_not_available
		return ErrBusy
	}
	return err
}

// record adds one entry to the history.
func (tx *changeTx) record(collection string, kind ChangeKind, desc string, stmts []string) error {
	_, err := tx.q.Exec(tx.ctx, "INSERT INTO "+tenantdb.Table(tx.ref, historyTable)+
		" (collection, kind, description, sql) VALUES ($1, $2, $3, $4)",
		collection, string(kind), desc, strings.Join(stmts, ";\n")+";")
	if err != nil {
		return fmt.Errorf("record history: %w", err)
	}
	return nil
}

// invalidation is the message on StoreConfig.Channel: the tenant whose
// collections changed and their names (none: all of the tenant's). A
// message that does not parse flushes the whole cache.
type invalidation struct {
	// Origin is the announcing Store's random id: it applied the message
	// before publishing it and skips it when it comes back.
	Origin string   `json:"origin,omitempty"`
	Tenant string   `json:"tenant"`
	Names  []string `json:"names,omitempty"`
}

// announce drops the changed definitions from this node's cache and tells
// the region's other nodes. A failed publish is logged, not returned: the
// change is committed, and the other nodes' caches forget the old
// definition within CacheTTL anyway.
func (s *Store) announce(ctx context.Context, tenant string, names ...string) {
	if err := s.publish(ctx, invalidation{Tenant: tenant, Names: names}); err != nil {
		s.log.WarnContext(ctx, "schema: change not announced to the region's other nodes; their caches catch up within the cache TTL",
			"tenant", tenant, "collections", names, "error", err)
	}
}

func (s *Store) publish(ctx context.Context, inv invalidation) error {
	invalidateNames(s.cache, inv.Tenant, inv.Names)
	inv.Origin = s.origin
	payload, err := json.Marshal(inv)
	if err != nil {
		return err
	}
	return s.broker.Publish(context.WithoutCancel(ctx), s.channel, payload)
}

// TenantChanged drops every cached definition of tenant ref on every node.
// Call it when a tenant is purged or re-provisioned (it fits beside
// apikeys.Keys.TenantChanged in tenants.Config.Changed).
func (s *Store) TenantChanged(ctx context.Context, ref string) error {
	if err := s.publish(ctx, invalidation{Tenant: ref}); err != nil {
		return fmt.Errorf("announce tenant change: %w", err)
	}
	return nil
}

// Live reports whether the cache is on: Run is subscribed to
// invalidations. While it is off every Get reads the database.
func (s *Store) Live() bool { return s.cache.Live() }

// Run receives invalidations from the region's nodes and applies them to
// the cache, until ctx ends. It enables the cache while its subscription
// is active; when the subscription ends it flushes the cache and
// subscribes again with backoff. Call it once, in its own goroutine.
func (s *Store) Run(ctx context.Context) {
	broker.Follow(ctx, s.broker, s.channel, broker.Follower{
		Name:       "schema invalidations",
		Meanwhile:  "definitions are read from the database meanwhile",
		Ended:      "cache flushed, subscribing again",
		Up:         func() { s.cache.SetLive(true) },
		Down:       func() { s.cache.SetLive(false) },
		MinBackoff: s.minBack, MaxBackoff: s.maxBack, Logger: s.log,
		Message: func(m broker.Message) {
			var inv invalidation
			if err := json.Unmarshal(m.Payload, &inv); err != nil || inv.Tenant == "" {
				s.log.WarnContext(ctx, "schema invalidations: unreadable message; flushing the cache", "error", err)
				s.cache.Flush()
				return
			}
			if inv.Origin != s.origin {
				invalidateNames(s.cache, inv.Tenant, inv.Names)
			}
		},
	})
}

func isCode(err error, code string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == code
}

// Package records reads and writes a collection's records: create, get,
// update (partial), replace, delete, upsert, batches of up to 1,000
// operations in one transaction, and queries with a filter, sort, keyset
// cursor, field selection, count and one level of relation expansion.
//
// Every statement runs through tenantdb as the caller's tenant role, names
// its table with the tenant's schema, binds every value as a parameter and
// takes identifiers only from the collection's validated schema.
//
// # Values
//
// A record's fields arrive as JSON values (what structpb.Struct.AsMap and
// encoding/json produce) and are checked against the field's type:
//
//	text, file  string (no NUL character)
//	integer     a whole number within ±(2^53−1), so that JSON clients
//	            never lose precision
//	number      a finite number
//	boolean     true or false
//	timestamp   an RFC 3339 string; kept to the microsecond (finer digits
//	            are truncated)
//	json        any JSON value
//	relation    the UUID of a record of the target collection; the foreign
//	            key checks that it exists
//	vector      an array of Dimensions finite numbers
//
// null clears a field (refused for a required one). A name that is not a
// field of the collection is refused. Of the system fields, "id" may be
// given on create and upsert (a UUID; one is made with UUIDv7 otherwise) and
// must match the addressed record on update and replace; created_at,
// updated_at and version are read-only and ignored when present, as is
// "expand" when the collection has no such field, so that a record read
// from the API can be written back as it is.
//
// A record's JSON may be at most Config.MaxRecordBytes (1 MiB by default);
// a larger one is ErrTooLarge.
//
// Records come back as Record maps holding the Go values shared with package
// filter: string (text, file, id, relation), int64 (integer, version),
// float64, bool, time.Time in UTC (timestamp, created_at, updated_at), any
// for json, []float32 for vector and nil for null.
//
// # Versions
//
// A record is at version 1 when created and every write adds one. Update,
// replace and delete take an expected version: when it is not 0 and the
// record is at another version, nothing is written and the error (ErrConflict)
// says which version the record is at. Two writers that read the same
// version cannot both succeed: the check is part of the UPDATE's WHERE, so
// the second waits for the first's row lock and then no longer matches.
//
// # Batches
//
// A batch's operations are all checked first (nothing reaches the database
// when one is malformed), then sent in one pipeline inside one transaction.
// The first operation that fails decides the error, "ops[7]: …" with that
// operation's Kind, and the transaction rolls back.
//
// # Queries
//
// Sorting puts nulls last ascending and first descending (PostgreSQL's
// default, so plain btree indexes serve both directions): a null sorts as
// if it were above every value. The id is always the final key, so the
// order is total and keyset paging visits every matching record once.
// A cursor is opaque base64url JSON of the last row's sort values and id
// plus a hash of the collection, filter text and sort; it is refused with
// any other query. Cursors are not signed: a forged one can only move
// within the caller's own records.
//
// # Access rules
//
// The service role (a secret key) reads and writes everything. Anyone else
// (a publishable key: anon; a signed-in user: authenticated) goes through
// the collection's access rules (package rules), which this package adds
// to the SQL of every statement, with the caller as parameters, on top of
// the row-level-security policies that enforce the same rules in the
// database:
//
//   - a collection with no rules at all refuses them: KindDenied, "access
//     rules are not set yet";
//   - query: the list rule joins the filter, so pages, exact counts and
//     estimated counts (always the planner's, through EXPLAIN) see only
//     what the caller may list; a missing list rule lists nothing;
//   - get: the view rule; a record it hides is KindNotFound, never
//     KindDenied, so that existence is not revealed. Expanded relations
//     show a target only where the target collection's view rule does
//     (null otherwise, as for a missing target; a target collection
//     without rules shows none);
//   - update and replace: the update rule on the record as it is (one it
//     hides is KindNotFound, also when an expected version is given), and
//     the update policy's check on the record as it becomes (KindDenied);
//   - delete: the delete rule (KindNotFound when it refuses);
//   - create and upsert: the create rule, through the insert policy's
//     check (KindDenied); a missing create rule is KindDenied before the
//     database is asked. An upsert that updates needs the update rule too.
//
// A written record comes back through RETURNING, which PostgreSQL allows
// only for rows the select policy ((list) OR (view)) lets through; a write
// of a record the caller could then not see is KindDenied.
package records

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/sovereign-backend/sovereign/dataplane/filter"
	"github.com/sovereign-backend/sovereign/dataplane/rules"
	"github.com/sovereign-backend/sovereign/dataplane/schema"
	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
)

// DefaultMaxRecordBytes is the default limit on a record's JSON size: 1 MiB.
const DefaultMaxRecordBytes = 1 << 20

// Limits of batches and queries.
const (
	// MaxBatchOps is the most operations one Batch may carry.
	MaxBatchOps = 1000
	// DefaultLimit is a query's page size when none is given.
	DefaultLimit = 50
	// MaxLimit is the largest page size a query may ask for.
	MaxLimit = 1000
	// MaxSortFields is the most sort fields a query may give (the id,
	// always the final tie-breaker, is not counted).
	MaxSortFields = 8
)

// Config configures a Service.
type Config struct {
	// DB runs the tenant transactions. Required.
	DB *tenantdb.DB
	// Schema holds the collections. Required.
	Schema *schema.Store
	// MaxRecordBytes is the largest record accepted, measured as its JSON
	// encoding in bytes. 0 means DefaultMaxRecordBytes (1 MiB).
	MaxRecordBytes int
	// Rules compiles the collections' access rules; nil means a cache of
	// rules.DefaultCacheSize.
	Rules *rules.Cache
	// OnChange, when set, is called after a write (create, update,
	// replace, delete, upsert, batch) committed, with the tenant and the
	// collections it wrote, each named once: the realtime change feed's
	// wake-up (realtime.Feed.Notify). It runs on the request's goroutine
	// and must return quickly. Changes that cascade into other collections
	// (a relation's ON DELETE SET NULL) are captured too but not named
	// here; the feed finds them by polling.
	OnChange func(ref string, collections ...string)
}

// Service reads and writes records. It is safe for concurrent use.
type Service struct {
	db       *tenantdb.DB
	schema   *schema.Store
	maxBytes int
	rules    *rules.Cache
	filters  filterCache
	onChange atomic.Pointer[func(ref string, collections ...string)]
}

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.DB == nil || cfg.Schema == nil {
		return nil, errors.New("records: Config.DB and Config.Schema are required")
	}
	if cfg.MaxRecordBytes < 0 {
		return nil, errors.New("records: Config.MaxRecordBytes must not be negative")
	}
	if cfg.Rules == nil {
		cfg.Rules = rules.NewCache(0)
	}
	s := &Service{db: cfg.DB, schema: cfg.Schema, maxBytes: cmp.Or(cfg.MaxRecordBytes, DefaultMaxRecordBytes), rules: cfg.Rules}
	s.SetOnChange(cfg.OnChange)
	return s, nil
}

// SetOnChange replaces Config.OnChange (nil: none), for a change feed
// built after the service. Safe to call at any time.
func (s *Service) SetOnChange(fn func(ref string, collections ...string)) {
	if fn == nil {
		s.onChange.Store(nil)
		return
	}
	s.onChange.Store(&fn)
}

// MaxRecordBytes is the record size limit in force.
func (s *Service) MaxRecordBytes() int { return s.maxBytes }

// Record is a record: its system fields and user fields by name, holding the
// Go values listed in the package documentation. Expanded relations are
// under "expand", a map from the relation field to the target Record or nil.
type Record map[string]any

// Kind says what went wrong with a request, so that the edge can pick its
// error code.
type Kind uint8

// The kinds of Error.
const (
	// KindInvalid: the request is malformed (unknown field, wrong type,
	// bad filter, sort, cursor or limit). InvalidArgument.
	KindInvalid Kind = iota + 1
	// KindNotFound: the collection or record does not exist. NotFound.
	KindNotFound
	// KindConflict: the record is not at the expected version, or the
	// collection changed while the request ran; retrying after a fresh read
	// may succeed. Aborted.
	KindConflict
	// KindExists: the id or a unique field's value is taken. AlreadyExists.
	KindExists
	// KindTooLarge: the record is over the size limit. ResourceExhausted.
	KindTooLarge
	// KindReferenced: the record cannot be deleted while records of
	// another collection refer to it. FailedPrecondition.
	KindReferenced
	// KindDenied: the collection's access rules do not allow the write, or
	// it has none and the caller is not the service role.
	// PermissionDenied. (Reads the rules do not allow find nothing:
	// NotFound or an empty page, never KindDenied.)
	KindDenied
)

// Sentinels that errors.Is matches against an *Error of that Kind.
var (
	ErrInvalid    = errors.New("invalid argument")
	ErrNotFound   = errors.New("not found")
	ErrConflict   = errors.New("version conflict")
	ErrExists     = errors.New("already exists")
	ErrTooLarge   = errors.New("record too large")
	ErrReferenced = errors.New("record is referenced")
	ErrDenied     = errors.New("denied by the access rules")
)

// Error is an error a client can act on; its message names the field, the
// operation or the limit at fault.
type Error struct {
	Kind Kind
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Is makes errors.Is(err, ErrNotFound) and the like work.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrInvalid:
		return e.Kind == KindInvalid
	case ErrNotFound:
		return e.Kind == KindNotFound
	case ErrConflict:
		return e.Kind == KindConflict
	case ErrExists:
		return e.Kind == KindExists
	case ErrTooLarge:
		return e.Kind == KindTooLarge
	case ErrReferenced:
		return e.Kind == KindReferenced
	case ErrDenied:
		return e.Kind == KindDenied
	}
	return false
}

func invalidf(format string, args ...any) error {
	return &Error{Kind: KindInvalid, Msg: fmt.Sprintf(format, args...)}
}

// collection loads the collection called name for id.
func (s *Service) collection(ctx context.Context, id tenantdb.Identity, name string) (*schema.Collection, error) {
	if name == "" {
		return nil, invalidf("collection: required")
	}
	c, err := s.schema.Get(ctx, id, name)
	var ie *schema.InputError
	if errors.As(err, &ie) {
		return nil, invalidf("collection: %s", ie.Reason)
	}
	if errors.Is(err, schema.ErrNotFound) {
		return nil, &Error{Kind: KindNotFound, Msg: fmt.Sprintf("collection %q not found", name)}
	}
	if err != nil {
		return nil, fmt.Errorf("records: load collection %q: %w", name, err)
	}
	return c, nil
}

// access is what a caller may do with a collection's records: everything
// for the service role, what the rules allow for anyone else.
type access struct {
	service bool
	rules   *rules.Compiled
	auth    filter.Auth
}

// access returns id's access to c. A caller other than the service role on
// a collection without rules gets KindDenied.
func (s *Service) access(id tenantdb.Identity, c *schema.Collection) (*access, error) {
	if id.Role == tenantdb.RoleService {
		return &access{service: true}, nil
	}
	compiled, err := s.rules.Compiled(c)
	if err != nil {
		return nil, err
	}
	if !compiled.Any() {
		return nil, &Error{Kind: KindDenied, Msg: rules.ErrNotSet.Error()}
	}
	auth, err := rules.AuthOf(id, time.Now())
	if err != nil {
		return nil, err
	}
	return &access{rules: compiled, auth: auth}, nil
}

// where is " AND " and the rule for method as a condition with arguments
// from $argBase+1; "" for the service role.
func (a *access) where(method string, argBase int) (string, []any) {
	if a.service {
		return "", nil
	}
	sql, args := a.rules.Condition(method, argBase, a.auth)
	return " AND " + sql, args
}

// may reports whether the collection has a rule for method at all (always
// for the service role).
func (a *access) may(method string) bool { return a.service || a.rules.Has(method) }

// collections caches collections, and the caller's access to them, for the
// span of one request (a batch names the same few many times).
type collections struct {
	s   *Service
	id  tenantdb.Identity
	m   map[string]*schema.Collection
	acc map[string]*access
}

// access is the caller's access to c, which get returned.
func (c *collections) access(col *schema.Collection) (*access, error) {
	if a, ok := c.acc[col.Name]; ok {
		return a, nil
	}
	a, err := c.s.access(c.id, col)
	if err != nil {
		return nil, err
	}
	if c.acc == nil {
		c.acc = map[string]*access{}
	}
	c.acc[col.Name] = a
	return a, nil
}

func (c *collections) get(ctx context.Context, name string) (*schema.Collection, error) {
	if col, ok := c.m[name]; ok {
		return col, nil
	}
	col, err := c.s.collection(ctx, c.id, name)
	if err != nil {
		return nil, err
	}
	if c.m == nil {
		c.m = map[string]*schema.Collection{}
	}
	c.m[name] = col
	return col, nil
}

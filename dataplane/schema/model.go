// Package schema is a project's collections: their definitions, validation,
// the DDL that makes each one a real table in the tenant's schema, changes to
// them, and the history of those changes.
//
// Each collection is a real table "t_<ref>"."<name>" with the system
// columns id (uuid primary key), created_at, updated_at (timestamptz) and
// version (bigint), then one column per field (see the FieldType
// constants and ColumnType). Row-level security is enabled and forced on
// it, with the policy ServicePolicy for the service role and, once access
// rules are set (SetRules), the rule policies PolicySelect, PolicyInsert,
// PolicyUpdate and PolicyDelete that they compile to. Identifiers only
// ever come from validated names and are always quoted; defaults reach the
// DDL only as literals rendered by strconv or a strict quoter.
//
// # Where definitions live
//
// Everything about a tenant's collections lives in the tenant's own schema,
// next to the tables: "t_<ref>"."_collections" holds each collection's
// definition and "t_<ref>"."_schema_history" the history. A schema change
// runs as the tenant's role in one transaction with its DDL, so a change
// and its record commit or vanish together, and purging the tenant (DROP
// SCHEMA … CASCADE) takes them along. The two tables are made on a
// tenant's first schema change; their names start with "_", which no
// collection name may. Row-level security is forced on them: anyone may
// read definitions (records requests need them), only the service role may
// write them or read the history. A collection's access rules are part of
// its definition; Alter refuses (PreconditionError) to drop or rename a
// field that a rule reads.
//
// Every change takes a transaction-level advisory lock keyed on the tenant,
// so changes of one tenant (and the lazy creation of the tables) run one at
// a time, and sets lock_timeout (StoreConfig.LockTimeout) so that a change
// waiting on a busy table gives up with ErrBusy instead of stalling every
// request queued behind its lock.
//
// # Cache
//
// [Store.Get] is on every records request's path, so definitions are
// cached per (tenant, collection) like package apikeys caches keys: a
// change invalidates its entry on this node at once and on the others
// through the broker; while [Store.Run] is not subscribed nothing is
// cached, and StoreConfig.CacheTTL bounds staleness should an
// invalidation still be lost.
package schema

import (
	"slices"
	"time"
)

// FieldType is the type of a user field.
type FieldType string

// Field types and the PostgreSQL column each becomes.
const (
	Text      FieldType = "text"      // text
	Integer   FieldType = "integer"   // bigint; JSON numbers within ±(2^53-1)
	Number    FieldType = "number"    // double precision
	Boolean   FieldType = "boolean"   // boolean
	Timestamp FieldType = "timestamp" // timestamptz; RFC 3339 in JSON
	JSON      FieldType = "json"      // jsonb
	Relation  FieldType = "relation"  // uuid referencing the target collection's id
	Vector    FieldType = "vector"    // reserved for vector search: real[] of Dimensions
	File      FieldType = "file"      // reserved for storage: text (object name)
)

// System fields every collection has.
const (
	FieldID        = "id"         // uuid (UUIDv7), primary key
	FieldCreatedAt = "created_at" // timestamptz
	FieldUpdatedAt = "updated_at" // timestamptz
	FieldVersion   = "version"    // bigint, 1 on insert, +1 per write
)

// SystemFields in column order.
var SystemFields = []string{FieldID, FieldCreatedAt, FieldUpdatedAt, FieldVersion}

// Field is one user field.
type Field struct {
	Name     string    `json:"name"`
	Type     FieldType `json:"type"`
	Required bool      `json:"required,omitempty"`
	Unique   bool      `json:"unique,omitempty"`
	// Default is the JSON value (string, float64, bool, map, slice) given to
	// records created without the field; nil means none.
	Default any `json:"default,omitempty"`
	// Collection is a relation's target collection.
	Collection string `json:"collection,omitempty"`
	// Dimensions is a vector's length.
	Dimensions int `json:"dimensions,omitempty"`
}

// Index is an index over one or more fields.
type Index struct {
	Name   string   `json:"name"`
	Fields []string `json:"fields"`
	Unique bool     `json:"unique,omitempty"`
}

// Collection is a collection's definition.
type Collection struct {
	Name    string  `json:"name"`
	Fields  []Field `json:"fields"`
	Indexes []Index `json:"indexes,omitempty"`
	// Rules are the access rules (Store.SetRules); nil when none were ever
	// set.
	Rules     *Rules    `json:"rules,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Rules are a collection's access rules for anyone but the service role,
// one per operation; a nil Rule denies its operation. Package rules
// compiles them; this package stores them with the definition, keeps the
// row-level-security policies they compile to, and refuses to drop or
// rename a field a rule reads.
type Rules struct {
	List   *Rule `json:"list,omitempty"`
	View   *Rule `json:"view,omitempty"`
	Create *Rule `json:"create,omitempty"`
	Update *Rule `json:"update,omitempty"`
	Delete *Rule `json:"delete,omitempty"`
}

// Rule is one access rule.
type Rule struct {
	// Expr is the rule as written.
	Expr string `json:"expr"`
	// Fields are the collection's fields the rule reads.
	Fields []string `json:"fields,omitempty"`
}

// Named returns the rules with their names (list, view, create, update,
// delete), in that order; nil rules included.
func (r *Rules) Named() []NamedRule {
	if r == nil {
		r = &Rules{}
	}
	return []NamedRule{{"list", r.List}, {"view", r.View}, {"create", r.Create}, {"update", r.Update}, {"delete", r.Delete}}
}

// NamedRule is a rule and the operation it is for.
type NamedRule struct {
	Name string
	Rule *Rule
}

// Any reports whether at least one rule is set.
func (r *Rules) Any() bool {
	return r != nil && (r.List != nil || r.View != nil || r.Create != nil || r.Update != nil || r.Delete != nil)
}

func (r *Rules) clone() *Rules {
	if r == nil {
		return nil
	}
	c := func(x *Rule) *Rule {
		if x == nil {
			return nil
		}
		return &Rule{Expr: x.Expr, Fields: slices.Clone(x.Fields)}
	}
	return &Rules{List: c(r.List), View: c(r.View), Create: c(r.Create), Update: c(r.Update), Delete: c(r.Delete)}
}

// Field returns the user field called name.
func (c *Collection) Field(name string) (Field, bool) {
	for _, f := range c.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// Clone returns a copy of c that shares nothing with it but the Default
// values (which nobody modifies).
func (c *Collection) Clone() *Collection {
	out := *c
	out.Fields = slices.Clone(c.Fields)
	out.Indexes = slices.Clone(c.Indexes)
	out.Rules = c.Rules.clone()
	for i := range out.Indexes {
		out.Indexes[i].Fields = slices.Clone(out.Indexes[i].Fields)
	}
	return &out
}

// Index returns the index called name.
func (c *Collection) Index(name string) (Index, bool) {
	for _, ix := range c.Indexes {
		if ix.Name == name {
			return ix, true
		}
	}
	return Index{}, false
}

// ChangeKind is what a schema change did to its collection.
type ChangeKind string

// The kinds of schema change.
const (
	ChangeCreate ChangeKind = "create"
	ChangeAlter  ChangeKind = "alter"
	ChangeDrop   ChangeKind = "drop"
)

// Change is one entry of a project's schema history: one Create, one Drop,
// or one operation of an Alter.
type Change struct {
	// ID orders the history: a later change has a larger ID.
	ID         int64      `json:"id"`
	At         time.Time  `json:"at"`
	Collection string     `json:"collection"`
	Kind       ChangeKind `json:"kind"`
	// Description says what changed, for people, e.g. "add field title
	// (text, required)".
	Description string `json:"description"`
	// SQL is the DDL that ran, statements ending in ";", tables named with
	// the tenant's schema.
	SQL string `json:"sql"`
}

// HistoryParams select a page of the schema history.
type HistoryParams struct {
	// Collection keeps only that collection's changes; "" keeps all.
	Collection string
	// Limit is the page size, 1 to MaxHistoryLimit; 0 means
	// DefaultHistoryLimit.
	Limit int
	// AfterID starts the page after the change with this ID; 0 from the
	// start.
	AfterID int64
}

// History page sizes.
const (
	DefaultHistoryLimit = 100
	MaxHistoryLimit     = 1000
)

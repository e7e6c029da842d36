// Package schema is a project's collections: their definitions, validation,
// the DDL that makes each one a real table in the tenant's schema, changes to
// them, and the history of those changes.
package schema

import "time"

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
	Name      string    `json:"name"`
	Fields    []Field   `json:"fields"`
	Indexes   []Index   `json:"indexes,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
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

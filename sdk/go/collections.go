package sovereign

import (
	"bytes"
	"context"
	"encoding/json"
	"iter"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	dataplanev1 "github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1"
	"github.com/sovereign-backend/sovereign/proto/gen/sovereign/dataplane/v1/dataplanev1connect"
)

// FieldType is the type of a collection's field.
type FieldType string

// Field types. Each is a real column of the collection's table.
const (
	FieldText      FieldType = "text"
	FieldInteger   FieldType = "integer" // within ±(2^53−1) in JSON
	FieldNumber    FieldType = "number"  // a double
	FieldBoolean   FieldType = "boolean"
	FieldTimestamp FieldType = "timestamp" // RFC 3339 in JSON
	FieldJSON      FieldType = "json"
	// FieldRelation holds the id of a record of Field.Collection.
	FieldRelation FieldType = "relation"
	// FieldVector and FieldFile are reserved for vector search and storage.
	FieldVector FieldType = "vector"
	FieldFile   FieldType = "file"
)

// Field is one user field of a collection.
type Field struct {
	// Name: lowercase letters, digits and underscores, starting with a
	// letter, at most 63 characters; not a system field.
	Name string    `json:"name"`
	Type FieldType `json:"type"`
	// Required: a record must have a non-null value.
	Required bool `json:"required,omitempty"`
	// Unique: no two records share a non-null value.
	Unique bool `json:"unique,omitempty"`
	// Default is the value records created without the field get (a JSON
	// value of the field's type); nil for none.
	Default any `json:"default,omitempty"`
	// Collection is a relation's target collection.
	Collection string `json:"collection,omitempty"`
	// Dimensions is a vector's length, 1 to 4096.
	Dimensions int `json:"dimensions,omitempty"`
}

// Index speeds up filters and sorts on its fields.
type Index struct {
	// Name is made from the collection and fields when empty.
	Name string `json:"name,omitempty"`
	// Fields are one to eight field names; system fields are allowed.
	Fields []string `json:"fields"`
	Unique bool     `json:"unique,omitempty"`
}

// CollectionSpec describes a collection: what [Collections.Create] takes
// and what Get and List return. Its JSON form is the platform's:
//
//	{"name": "posts",
//	 "fields": [{"name": "title", "type": "text", "required": true}, {"name": "n", "type": "integer"}],
//	 "indexes": [{"fields": ["n"]}]}
type CollectionSpec struct {
	Name    string  `json:"name"`
	Fields  []Field `json:"fields"`
	Indexes []Index `json:"indexes,omitempty"`
	// CreatedAt and UpdatedAt are set by the platform; Create ignores them.
	CreatedAt time.Time `json:"created_at,omitzero"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// Collections manages a project's collections (needs a secret key). Get it
// with [Client.Collections].
type Collections struct{ c *Client }

// Collections returns the client's collection manager.
func (c *Client) Collections() *Collections { return &Collections{c: c} }

// Create makes a collection: a table in the project's schema with the
// spec's fields and indexes, and the system fields id, created_at,
// updated_at and version. It returns the collection as created.
//
// Errors: [CodeInvalidArgument] (a bad or reserved name, a bad field,
// naming it), [CodeAlreadyExists], [CodeNotFound] (a relation's target
// collection), [CodeResourceExhausted] (the project's collection limit).
func (cs *Collections) Create(ctx context.Context, spec CollectionSpec) (*CollectionSpec, error) {
	m, err := spec.proto()
	if err != nil {
		return nil, err
	}
	res, err := unary(ctx, cs.c.c, dataplanev1connect.CollectionServiceCreateCollectionProcedure, callCreate,
		cs.c.collections.CreateCollection, &dataplanev1.CreateCollectionRequest{Collection: m})
	if err != nil {
		return nil, err
	}
	return collectionOf(res.GetCollection()), nil
}

// Get describes a collection. Errors: [CodeNotFound].
func (cs *Collections) Get(ctx context.Context, name string) (*CollectionSpec, error) {
	res, err := unary(ctx, cs.c.c, dataplanev1connect.CollectionServiceGetCollectionProcedure, callRead,
		cs.c.collections.GetCollection, &dataplanev1.GetCollectionRequest{Name: name})
	if err != nil {
		return nil, err
	}
	return collectionOf(res.GetCollection()), nil
}

// List returns every collection of the project.
func (cs *Collections) List(ctx context.Context) ([]*CollectionSpec, error) {
	res, err := unary(ctx, cs.c.c, dataplanev1connect.CollectionServiceListCollectionsProcedure, callRead,
		cs.c.collections.ListCollections, &dataplanev1.ListCollectionsRequest{})
	if err != nil {
		return nil, err
	}
	return mapSlice(res.GetCollections(), collectionOf), nil
}

// AlterOp is one change to a collection; see [AddField] and the functions
// beside it.
type AlterOp struct {
	op  *dataplanev1.AlterOp
	err error
}

// AddField adds a field. Adding a required field without a default fails
// while the collection has records.
func AddField(f Field) AlterOp {
	m, err := f.proto()
	return AlterOp{op: &dataplanev1.AlterOp{Op: &dataplanev1.AlterOp_AddField{AddField: m}}, err: err}
}

// RenameField renames a field; its data, indexes and default stay.
func RenameField(from, to string) AlterOp {
	return AlterOp{op: &dataplanev1.AlterOp{Op: &dataplanev1.AlterOp_RenameField{RenameField: &dataplanev1.RenameField{From: from, To: to}}}}
}

// DropField drops a field and its data.
func DropField(name string) AlterOp {
	return AlterOp{op: &dataplanev1.AlterOp{Op: &dataplanev1.AlterOp_DropField{DropField: name}}}
}

// SetRequired makes a field required or optional. Making it required fails
// ([CodeFailedPrecondition]) while a record has no value for it.
func SetRequired(field string, required bool) AlterOp {
	return AlterOp{op: &dataplanev1.AlterOp{Op: &dataplanev1.AlterOp_SetRequired{SetRequired: &dataplanev1.SetRequired{Field: field, Required: required}}}}
}

// SetUnique makes a field unique or not. Making it unique fails
// ([CodeFailedPrecondition]) while two records share a value.
func SetUnique(field string, unique bool) AlterOp {
	return AlterOp{op: &dataplanev1.AlterOp{Op: &dataplanev1.AlterOp_SetUnique{SetUnique: &dataplanev1.SetUnique{Field: field, Unique: unique}}}}
}

// SetDefault sets the value records created without the field get; nil
// removes the default.
func SetDefault(field string, value any) AlterOp {
	sd := &dataplanev1.SetDefault{Field: field}
	var err error
	if value != nil {
		sd.Default, err = jsonValue(value, field)
	}
	return AlterOp{op: &dataplanev1.AlterOp{Op: &dataplanev1.AlterOp_SetDefault{SetDefault: sd}}, err: err}
}

// AddIndex adds an index.
func AddIndex(ix Index) AlterOp {
	return AlterOp{op: &dataplanev1.AlterOp{Op: &dataplanev1.AlterOp_AddIndex{AddIndex: ix.proto()}}}
}

// DropIndex drops the index called name.
func DropIndex(name string) AlterOp {
	return AlterOp{op: &dataplanev1.AlterOp{Op: &dataplanev1.AlterOp_DropIndex{DropIndex: name}}}
}

// Alter applies ops to the collection in order, all or nothing, and
// returns the collection after them. It is not retried: a change applied
// whose answer was lost would fail on the second attempt.
//
// Errors: [CodeNotFound] (the collection or a field named),
// [CodeInvalidArgument] (a bad op, naming it), [CodeFailedPrecondition]
// (the records do not allow the change: see [SetRequired], [SetUnique]).
func (cs *Collections) Alter(ctx context.Context, name string, ops ...AlterOp) (*CollectionSpec, error) {
	if len(ops) == 0 {
		return nil, invalidArgument("alter %s: no changes", name)
	}
	req := &dataplanev1.AlterCollectionRequest{Name: name, Ops: make([]*dataplanev1.AlterOp, len(ops))}
	for i, op := range ops {
		if op.err != nil {
			return nil, op.err
		}
		if op.op == nil {
			return nil, invalidArgument("alter %s: change %d is empty", name, i)
		}
		req.Ops[i] = op.op
	}
	res, err := unary(ctx, cs.c.c, dataplanev1connect.CollectionServiceAlterCollectionProcedure, callOnce,
		cs.c.collections.AlterCollection, req)
	if err != nil {
		return nil, err
	}
	return collectionOf(res.GetCollection()), nil
}

// Drop deletes the collection and all its records. Errors: [CodeNotFound],
// [CodeFailedPrecondition] when another collection's relation points at it.
func (cs *Collections) Drop(ctx context.Context, name string) error {
	_, err := unary(ctx, cs.c.c, dataplanev1connect.CollectionServiceDropCollectionProcedure, callOnce,
		cs.c.collections.DropCollection, &dataplanev1.DropCollectionRequest{Name: name})
	return err
}

// SchemaChange is one entry of a project's schema history.
type SchemaChange struct {
	ID         int64     `json:"id"`
	At         time.Time `json:"at"`
	Collection string    `json:"collection"`
	// Kind is "create", "alter" or "drop".
	Kind string `json:"kind"`
	// Description says what changed, for people: "add field title (text,
	// required)".
	Description string `json:"description"`
	// SQL is the DDL that was run.
	SQL string `json:"sql"`
}

// History iterates over the schema history, oldest first: every change of
// the collection, or of all collections when collection is "". It fetches
// pages as the loop needs them.
func (cs *Collections) History(ctx context.Context, collection string) iter.Seq2[*SchemaChange, error] {
	return func(yield func(*SchemaChange, error) bool) {
		var after int64
		for {
			res, err := unary(ctx, cs.c.c, dataplanev1connect.CollectionServiceListSchemaChangesProcedure, callRead,
				cs.c.collections.ListSchemaChanges, &dataplanev1.ListSchemaChangesRequest{Collection: collection, Limit: 500, AfterId: after})
			if err != nil {
				yield(nil, err)
				return
			}
			for _, m := range res.GetChanges() {
				c := &SchemaChange{ID: m.GetId(), At: timeOf(m.GetAt()), Collection: m.GetCollection(), Kind: m.GetKind(),
					Description: m.GetDescription(), SQL: m.GetSql()}
				if !yield(c, nil) {
					return
				}
			}
			next := res.GetNextAfterId()
			if next == 0 || next <= after {
				return
			}
			after = next
		}
	}
}

// jsonValue converts a Go value to a protobuf Value through JSON, refusing
// integers beyond ±(2^53−1); path names it in errors.
func jsonValue(v any, path string) (*structpb.Value, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, invalidArgument("%s: value does not marshal to JSON: %v", path, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return nil, invalidArgument("%s: %v", path, err)
	}
	return toValue(x, path)
}

func (f Field) proto() (*dataplanev1.Field, error) {
	m := &dataplanev1.Field{Name: f.Name, Type: string(f.Type), Required: f.Required, Unique: f.Unique,
		Collection: f.Collection, Dimensions: int32(f.Dimensions)}
	if f.Default != nil {
		d, err := jsonValue(f.Default, f.Name)
		if err != nil {
			return nil, err
		}
		m.Default = d
	}
	return m, nil
}

func (ix Index) proto() *dataplanev1.Index {
	return &dataplanev1.Index{Name: ix.Name, Fields: ix.Fields, Unique: ix.Unique}
}

func (s CollectionSpec) proto() (*dataplanev1.Collection, error) {
	m := &dataplanev1.Collection{Name: s.Name}
	for _, f := range s.Fields {
		fm, err := f.proto()
		if err != nil {
			return nil, err
		}
		m.Fields = append(m.Fields, fm)
	}
	for _, ix := range s.Indexes {
		m.Indexes = append(m.Indexes, ix.proto())
	}
	return m, nil
}

func collectionOf(m *dataplanev1.Collection) *CollectionSpec {
	s := &CollectionSpec{Name: m.GetName(), CreatedAt: timeOf(m.GetCreatedAt()), UpdatedAt: timeOf(m.GetUpdatedAt()),
		Fields: make([]Field, 0, len(m.GetFields()))}
	for _, f := range m.GetFields() {
		fd := Field{Name: f.GetName(), Type: FieldType(f.GetType()), Required: f.GetRequired(), Unique: f.GetUnique(),
			Collection: f.GetCollection(), Dimensions: int(f.GetDimensions())}
		if f.GetDefault() != nil {
			fd.Default = f.GetDefault().AsInterface()
		}
		s.Fields = append(s.Fields, fd)
	}
	for _, ix := range m.GetIndexes() {
		s.Indexes = append(s.Indexes, Index{Name: ix.GetName(), Fields: ix.GetFields(), Unique: ix.GetUnique()})
	}
	return s
}

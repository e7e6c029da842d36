package schema

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Limits on a collection's definition.
const (
	// MaxNameLen is the longest collection, field or index name, in bytes
	// (PostgreSQL's identifier limit).
	MaxNameLen = 63
	// MaxFields is the most user fields a collection has.
	MaxFields = 200
	// MaxIndexes is the most indexes a collection has.
	MaxIndexes = 32
	// MaxIndexFields is the most fields one index covers.
	MaxIndexFields = 8
	// MinDimensions and MaxDimensions bound a vector field's length.
	MinDimensions, MaxDimensions = 1, 4096
	// MaxSafeInteger is the largest integer default, in absolute value: the
	// largest integer a JSON number (a float64) holds exactly.
	MaxSafeInteger = 1<<53 - 1
	// MaxDefaultBytes is the longest text or json default, in bytes.
	MaxDefaultBytes = 8192
	// MaxAlterOps is the most changes one Alter takes.
	MaxAlterOps = 100
)

var namePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// ReservedNames are names no collection may have: the words that REST paths
// (/v1/collections/{name}/records, /v1/batch) and the features that come
// later (end-user auth and its users, access rules, file storage, realtime,
// vector search, jobs, webhooks) use, so that a collection never shadows
// them. Names starting with "pg_" (PostgreSQL's) and "_" (Sovereign's own
// tables in the tenant's schema, such as _collections) are refused as
// well; the name pattern already refuses the latter.
var ReservedNames = []string{
	"auth", "batch", "buckets", "collections", "files", "functions", "history",
	"jobs", "realtime", "records", "rules", "schema", "sessions", "storage",
	"users", "vectors", "webhooks",
}

// reservedFields are the system fields and PostgreSQL's system columns,
// which a user column cannot be named after.
var reservedFields = []string{
	FieldID, FieldCreatedAt, FieldUpdatedAt, FieldVersion,
	"tableoid", "xmin", "cmin", "xmax", "cmax", "ctid",
}

// FieldTypes lists the field types in the order messages name them.
var FieldTypes = []FieldType{Text, Integer, Number, Boolean, Timestamp, JSON, Relation, Vector, File}

func typeList() string {
	s := make([]string, len(FieldTypes))
	for i, t := range FieldTypes {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

// nameProblem returns why name cannot name a collection, field or index
// ("" when it can). what is "collection", "field" or "index".
func nameProblem(what, name string) string {
	if !namePattern.MatchString(name) {
		if name == "" {
			return "a " + what + " name is required"
		}
		return fmt.Sprintf("invalid %s name %q: use lowercase letters, digits and underscores, starting with a letter, at most %d characters", what, name, MaxNameLen)
	}
	if strings.HasPrefix(name, "pg_") {
		return fmt.Sprintf("invalid %s name %q: names starting with \"pg_\" are reserved for PostgreSQL", what, name)
	}
	switch what {
	case "collection":
		if slices.Contains(ReservedNames, name) {
			return fmt.Sprintf("collection name %q is reserved; reserved names are %s", name, strings.Join(ReservedNames, ", "))
		}
	case "field":
		if slices.Contains(reservedFields, name) {
			return fmt.Sprintf("field name %q is reserved: id, created_at, updated_at and version are system fields every record has, and tableoid, xmin, xmax, cmin, cmax and ctid are PostgreSQL's", name)
		}
	}
	return ""
}

// ValidateCollectionName returns nil when name may name a collection, or an
// *InputError for field "name" that says why not.
func ValidateCollectionName(name string) error {
	if p := nameProblem("collection", name); p != "" {
		return &InputError{Field: "name", Reason: p}
	}
	return nil
}

// ValidateFieldName returns nil when name may name a user field, or an
// *InputError for field "name" that says why not.
func ValidateFieldName(name string) error {
	if p := nameProblem("field", name); p != "" {
		return &InputError{Field: "name", Reason: p}
	}
	return nil
}

// IsSystemField reports whether name is one of SystemFields.
func IsSystemField(name string) bool { return slices.Contains(SystemFields, name) }

// checkField validates f on its own (everything except whether a
// relation's target exists) and returns it with its default normalised.
// path is f's position in the request, e.g. "fields[2]".
func checkField(path string, f Field) (Field, error) {
	if p := nameProblem("field", f.Name); p != "" {
		return f, &InputError{Field: path + ".name", Reason: p}
	}
	if !slices.Contains(FieldTypes, f.Type) {
		if f.Type == "" {
			return f, inputErr(path+".type", "a type is required; use one of %s", typeList())
		}
		return f, inputErr(path+".type", "unknown type %q; use one of %s", string(f.Type), typeList())
	}
	if f.Type == Relation {
		if f.Collection == "" {
			return f, inputErr(path+".collection", "a relation needs the name of the collection it points to")
		}
		if !namePattern.MatchString(f.Collection) {
			return f, inputErr(path+".collection", "invalid collection name %q", f.Collection)
		}
	} else if f.Collection != "" {
		return f, inputErr(path+".collection", "only relation fields name a collection; %s is a %s field", f.Name, f.Type)
	}
	if f.Type == Vector {
		if f.Dimensions < MinDimensions || f.Dimensions > MaxDimensions {
			return f, inputErr(path+".dimensions", "a vector needs %d to %d dimensions, got %d", MinDimensions, MaxDimensions, f.Dimensions)
		}
	} else if f.Dimensions != 0 {
		return f, inputErr(path+".dimensions", "only vector fields have dimensions; %s is a %s field", f.Name, f.Type)
	}
	if f.Unique && !canBeUnique(f.Type) {
		return f, inputErr(path+".unique", "%s fields cannot be unique", f.Type)
	}
	d, err := normalizeDefault(f.Type, f.Default)
	if err != nil {
		return f, &InputError{Field: path + ".default", Reason: err.Error()}
	}
	f.Default = d
	return f, nil
}

func canBeUnique(t FieldType) bool { return t != JSON && t != Vector }

// canBeIndexed: a vector's or a JSON document's btree entry would soon
// pass PostgreSQL's limit of about 2.7 kB per index row and make writes
// fail; vector search brings its own indexes.
func canBeIndexed(t FieldType) bool { return t != JSON && t != Vector }

// normalizeDefault checks that v is a value of type t and returns it in the
// form a Collection keeps: float64 for integer and number, string for text
// and timestamp (RFC 3339 in UTC), bool, and for json the value as
// encoding/json decodes it. nil stays nil (no default).
func normalizeDefault(t FieldType, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch t {
	case Text:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("the default of a text field must be a string, got %s", jsonKind(v))
		}
		if err := checkString(s); err != nil {
			return nil, err
		}
		return s, nil
	case Integer:
		f, ok := toFloat(v)
		if !ok {
			return nil, fmt.Errorf("the default of an integer field must be a number, got %s", jsonKind(v))
		}
		if f != math.Trunc(f) || math.Abs(f) > MaxSafeInteger {
			return nil, fmt.Errorf("the default of an integer field must be a whole number within ±%d, got %v", int64(MaxSafeInteger), v)
		}
		return f, nil
	case Number:
		f, ok := toFloat(v)
		if !ok || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("the default of a number field must be a finite number, got %s", jsonKind(v))
		}
		return f, nil
	case Boolean:
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("the default of a boolean field must be true or false, got %s", jsonKind(v))
		}
		return b, nil
	case Timestamp:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("the default of a timestamp field must be an RFC 3339 string such as \"2024-05-01T12:00:00Z\", got %s", jsonKind(v))
		}
		ts, err := time.Parse(time.RFC3339Nano, s)
		if err != nil || ts.Year() < 1 || ts.Year() > 9999 {
			return nil, fmt.Errorf("the default of a timestamp field must be an RFC 3339 time such as \"2024-05-01T12:00:00Z\", got %q", s)
		}
		return ts.UTC().Format(time.RFC3339Nano), nil
	case JSON:
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("the default of a json field must be a JSON value: %v", err)
		}
		if len(b) > MaxDefaultBytes {
			return nil, fmt.Errorf("a default is at most %d bytes", MaxDefaultBytes)
		}
		var out any
		if err := json.Unmarshal(b, &out); err != nil {
			return nil, fmt.Errorf("the default of a json field must be a JSON value: %v", err)
		}
		if err := checkJSONStrings(out); err != nil {
			return nil, err
		}
		return out, nil
	default: // relation, vector, file
		return nil, fmt.Errorf("%s fields cannot have a default", t)
	}
}

func checkString(s string) error {
	if len(s) > MaxDefaultBytes {
		return fmt.Errorf("a default is at most %d bytes", MaxDefaultBytes)
	}
	if strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("a default cannot contain the NUL character")
	}
	return nil
}

// checkJSONStrings refuses NUL in JSON strings and keys: jsonb cannot hold it.
func checkJSONStrings(v any) error {
	switch v := v.(type) {
	case string:
		return checkString(v)
	case []any:
		for _, e := range v {
			if err := checkJSONStrings(e); err != nil {
				return err
			}
		}
	case map[string]any:
		for k, e := range v {
			if err := checkString(k); err != nil {
				return err
			}
			if err := checkJSONStrings(e); err != nil {
				return err
			}
		}
	}
	return nil
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int32:
		return float64(n), true
	case int64:
		return float64(n), true
	case json.Number:
		f, err := strconv.ParseFloat(string(n), 64)
		return f, err == nil
	}
	return 0, false
}

func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case float64, float32, int, int32, int64, json.Number:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("a %T", v)
}

// checkDefinition validates a whole new collection, except whether its
// relations' targets exist, and returns it normalised: defaults in their
// kept form, index names filled in only where the caller gave them (the
// Store generates the others).
func checkDefinition(c Collection) (Collection, error) {
	if p := nameProblem("collection", c.Name); p != "" {
		return c, &InputError{Field: "name", Reason: p}
	}
	if len(c.Fields) > MaxFields {
		return c, inputErr("fields", "a collection has at most %d fields, got %d", MaxFields, len(c.Fields))
	}
	out := Collection{Name: c.Name, Fields: make([]Field, 0, len(c.Fields))}
	seen := make(map[string]int, len(c.Fields))
	for i, f := range c.Fields {
		path := fmt.Sprintf("fields[%d]", i)
		nf, err := checkField(path, f)
		if err != nil {
			return c, err
		}
		if j, dup := seen[nf.Name]; dup {
			return c, inputErr(path+".name", "duplicate field %q (also fields[%d])", nf.Name, j)
		}
		seen[nf.Name] = i
		out.Fields = append(out.Fields, nf)
	}
	if len(c.Indexes) > MaxIndexes {
		return c, inputErr("indexes", "a collection has at most %d indexes, got %d", MaxIndexes, len(c.Indexes))
	}
	for i, ix := range c.Indexes {
		path := fmt.Sprintf("indexes[%d]", i)
		nix, err := checkIndex(path, &out, ix)
		if err != nil {
			return c, err
		}
		out.Indexes = append(out.Indexes, nix)
	}
	return out, nil
}

// checkIndex validates ix against c (whose Indexes are the indexes already
// there) and returns it with a copy of its fields.
func checkIndex(path string, c *Collection, ix Index) (Index, error) {
	if ix.Name != "" {
		if p := nameProblem("index", ix.Name); p != "" {
			return ix, &InputError{Field: path + ".name", Reason: p}
		}
		for _, other := range c.Indexes {
			if other.Name == ix.Name {
				return ix, inputErr(path+".name", "collection %s already has an index named %q", c.Name, ix.Name)
			}
		}
	}
	if len(ix.Fields) == 0 || len(ix.Fields) > MaxIndexFields {
		return ix, inputErr(path+".fields", "an index covers 1 to %d fields, got %d", MaxIndexFields, len(ix.Fields))
	}
	for j, name := range ix.Fields {
		fp := fmt.Sprintf("%s.fields[%d]", path, j)
		if slices.Contains(ix.Fields[:j], name) {
			return ix, inputErr(fp, "field %q is listed twice", name)
		}
		if IsSystemField(name) {
			continue
		}
		f, ok := c.Field(name)
		if !ok {
			return ix, inputErr(fp, "collection %s has no field %q", c.Name, name)
		}
		if !canBeIndexed(f.Type) {
			return ix, inputErr(fp, "%s fields cannot be indexed", f.Type)
		}
	}
	for _, other := range c.Indexes {
		if other.Unique == ix.Unique && slices.Equal(other.Fields, ix.Fields) {
			which := "another index"
			if other.Name != "" {
				which = "index " + other.Name
			}
			return ix, inputErr(path+".fields", "%s already covers (%s)", which, strings.Join(ix.Fields, ", "))
		}
	}
	ix.Fields = slices.Clone(ix.Fields)
	return ix, nil
}

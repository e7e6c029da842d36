package records

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sovereign-backend/sovereign/dataplane/schema"
)

// maxSafeInteger is the largest integer a JSON number (an IEEE double)
// holds exactly: 2^53−1.
const maxSafeInteger = 1<<53 - 1

// TimeFormat is how timestamps are written: RFC 3339 in UTC with
// microseconds, PostgreSQL's precision.
const TimeFormat = "2006-01-02T15:04:05.000000Z07:00"

// expandKey is where expanded relations go in a record.
const expandKey = "expand"

// writeMode says which input a write takes.
type writeMode uint8

const (
	// modeCreate: a new record; id may be given; missing fields take their
	// default or null; required ones must be there.
	modeCreate writeMode = iota
	// modeReplace: every user field is set; like create, but id, when
	// given, must be the addressed record's.
	modeReplace
	// modePatch: only the given fields change.
	modePatch
)

// input is a record's checked values: the user fields to write, in the
// collection's field order, and the id when one was given.
type input struct {
	id     string
	fields []schema.Field
	values []any // parameters for fields[i]
}

// checkSize refuses a record whose JSON is over the limit.
func (s *Service) checkSize(rec map[string]any) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return invalidf("record: not valid JSON (a number is NaN or infinite)")
	}
	if len(b) > s.maxBytes {
		return &Error{Kind: KindTooLarge, Msg: fmt.Sprintf("record is %d bytes of JSON, over the limit of %d bytes per record", len(b), s.maxBytes)}
	}
	return nil
}

// convertInput checks rec against c for mode. addressed is the id of the
// record being written (update, replace), or "".
func (s *Service) convertInput(c *schema.Collection, rec map[string]any, mode writeMode, addressed string) (input, error) {
	if err := s.checkSize(rec); err != nil {
		return input{}, err
	}
	var in input
	// Unknown names first, in a stable order, so the error is repeatable.
	names := make([]string, 0, len(rec))
	for k := range rec {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		if _, ok := c.Field(k); ok {
			continue
		}
		switch k {
		case schema.FieldID:
			v := rec[k]
			str, ok := v.(string)
			if !ok {
				return input{}, invalidf("id: want a UUID string, got %s", describe(v))
			}
			u, err := uuid.Parse(str)
			if err != nil || len(str) != 36 {
				return input{}, invalidf("id: want a UUID, got %s", describe(v))
			}
			in.id = u.String()
			if addressed != "" && in.id != addressed {
				return input{}, invalidf("id: the record's id %s differs from the id addressed, %s; the id cannot change", in.id, addressed)
			}
		case schema.FieldCreatedAt, schema.FieldUpdatedAt, schema.FieldVersion, expandKey:
			// Read-only; ignored so that a record read can be written back.
		default:
			return input{}, invalidf("%s: unknown field of collection %q", k, c.Name)
		}
	}
	for _, f := range c.Fields {
		v, given := rec[f.Name]
		if !given {
			if mode == modePatch {
				continue
			}
			if f.Default != nil {
				v = f.Default
			} else if f.Required {
				return input{}, invalidf("%s: required", f.Name)
			}
		}
		if v == nil && f.Required {
			return input{}, invalidf("%s: required, cannot be null", f.Name)
		}
		p, err := param(f, v)
		if err != nil {
			return input{}, err
		}
		in.fields = append(in.fields, f)
		in.values = append(in.values, p)
	}
	return in, nil
}

// param converts the JSON value v of field f to the parameter bound to its
// column, or an InvalidArgument error naming f.
func param(f schema.Field, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	want := func(what string) error {
		return invalidf("%s: want %s, got %s", f.Name, what, describe(v))
	}
	switch f.Type {
	case schema.Text, schema.File:
		s, ok := v.(string)
		if !ok {
			return nil, want(string(f.Type))
		}
		if strings.IndexByte(s, 0) >= 0 {
			return nil, invalidf("%s: text cannot contain the NUL character (\\u0000)", f.Name)
		}
		return s, nil
	case schema.Integer:
		n, ok := number(v)
		if !ok {
			return nil, want("integer")
		}
		if math.IsNaN(n) || math.IsInf(n, 0) || n != math.Trunc(n) {
			return nil, want("integer")
		}
		if math.Abs(n) > maxSafeInteger {
			return nil, invalidf("%s: integer out of range: must be within ±(2^53−1) (±%d), got %s", f.Name, int64(maxSafeInteger), describe(v))
		}
		return int64(n), nil
	case schema.Number:
		n, ok := number(v)
		if !ok || math.IsNaN(n) || math.IsInf(n, 0) {
			return nil, want("number")
		}
		return n, nil
	case schema.Boolean:
		b, ok := v.(bool)
		if !ok {
			return nil, want("boolean")
		}
		return b, nil
	case schema.Timestamp:
		s, ok := v.(string)
		if !ok {
			return nil, want("timestamp (an RFC 3339 string)")
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, want("an RFC 3339 timestamp such as 2025-01-31T12:00:00Z")
		}
		// PostgreSQL keeps microseconds; finer digits are cut, not rounded,
		// the same way whichever client sent them.
		return t.UTC().Truncate(time.Microsecond), nil
	case schema.JSON:
		if hasNUL(v) {
			return nil, invalidf("%s: JSON cannot contain the NUL character (\\u0000)", f.Name)
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, want("a JSON value")
		}
		return b, nil
	case schema.Relation:
		s, ok := v.(string)
		if !ok {
			return nil, want("a record id (UUID)")
		}
		u, err := uuid.Parse(s)
		if err != nil || len(s) != 36 {
			return nil, want("a record id (UUID)")
		}
		return u.String(), nil
	case schema.Vector:
		list, ok := v.([]any)
		if !ok {
			return nil, want("an array of numbers")
		}
		if f.Dimensions > 0 && len(list) != f.Dimensions {
			return nil, invalidf("%s: want %d numbers, got %d", f.Name, f.Dimensions, len(list))
		}
		out := make([]float32, len(list))
		for i, e := range list {
			n, ok := number(e)
			if !ok || math.IsNaN(n) || math.IsInf(n, 0) || math.Abs(n) > math.MaxFloat32 {
				return nil, invalidf("%s[%d]: want a finite number, got %s", f.Name, i, describe(e))
			}
			out[i] = float32(n)
		}
		return out, nil
	}
	return nil, fmt.Errorf("records: field %s has unknown type %q", f.Name, f.Type)
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case int32:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

func hasNUL(v any) bool {
	switch x := v.(type) {
	case string:
		return strings.IndexByte(x, 0) >= 0
	case map[string]any:
		for k, e := range x {
			if strings.IndexByte(k, 0) >= 0 || hasNUL(e) {
				return true
			}
		}
	case []any:
		return slices.ContainsFunc(x, hasNUL)
	}
	return false
}

// describe names a JSON value's type and shows a short form of it, for
// error messages.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		if len(x) > 40 {
			x = strings.ToValidUTF8(x[:40], "") + "…"
		}
		return fmt.Sprintf("string %q", x)
	case bool:
		return fmt.Sprintf("boolean %t", x)
	case float64, float32, int, int32, int64, json.Number:
		return fmt.Sprintf("number %v", x)
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	return fmt.Sprintf("%T", v)
}

// parseID checks a record id given outside a record (the addressed id).
func parseID(s string) (string, error) {
	u, err := uuid.Parse(s)
	if err != nil || len(s) != 36 {
		return "", invalidf("id: want a record id (UUID), got %s", describe(s))
	}
	return u.String(), nil
}

// column is one column read back: its name and how its value is turned
// into a Record value.
type column struct {
	name string
	typ  schema.FieldType
}

// systemColumns are the system fields as columns, in table order. id is a
// uuid like a relation; version a bigint like an integer.
var systemColumns = []column{
	{schema.FieldID, schema.Relation},
	{schema.FieldCreatedAt, schema.Timestamp},
	{schema.FieldUpdatedAt, schema.Timestamp},
	{schema.FieldVersion, schema.Integer},
}

func isSystem(name string) bool { return slices.Contains(schema.SystemFields, name) }

// allColumns is every column of c: system fields, then user fields.
func allColumns(c *schema.Collection) []column {
	cols := slices.Clone(systemColumns)
	for _, f := range c.Fields {
		cols = append(cols, column{f.Name, f.Type})
	}
	return cols
}

// outValue turns a value pgx decoded (rows.Values) into a Record value.
func outValue(typ schema.FieldType, v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case [16]byte:
		return uuid.UUID(x).String()
	case time.Time:
		return x.UTC()
	case int32:
		return int64(x)
	case float32:
		return float64(x)
	case []float32:
		return x
	case []any:
		if typ == schema.Vector {
			out := make([]float32, 0, len(x))
			for _, e := range x {
				switch n := e.(type) {
				case float32:
					out = append(out, n)
				case float64:
					out = append(out, float32(n))
				}
			}
			return out
		}
		return x
	}
	return v
}

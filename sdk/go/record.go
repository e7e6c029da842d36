package sovereign

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
)

// System fields every record has, besides its user fields.
const (
	// FieldID is the record's id: a UUID, time-sortable (UUIDv7) when the
	// platform made it.
	FieldID = "id"
	// FieldCreatedAt is when the record was inserted (RFC 3339 on the wire).
	FieldCreatedAt = "created_at"
	// FieldUpdatedAt is when the record was last written.
	FieldUpdatedAt = "updated_at"
	// FieldVersion is 1 on insert and grows by one with every write; see
	// [ExpectVersion].
	FieldVersion = "version"
)

// MaxSafeInteger is the largest magnitude an integer may have in a record,
// 2^53−1: records travel as JSON, whose numbers are doubles, which hold every
// integer up to it exactly and not all beyond. The SDK refuses, before
// sending, any integer a double would round (2^53+1, math.MaxInt64, …), and
// the platform refuses integer field values beyond it; store larger values
// as text.
const MaxSafeInteger = 1<<53 - 1

// RecordMeta holds a record's system fields. Embed it in the struct a
// [CollectionRef] reads and writes, and the SDK fills it on every read and
// write:
//
//	type Post struct {
//		sovereign.RecordMeta
//		Title string `json:"title"`
//		N     int64  `json:"n"`
//	}
//
// On Insert and Upsert, a non-empty ID chooses the record's id (a UUID); the
// other system fields are always set by the platform and never sent.
type RecordMeta struct {
	ID        string    `json:"id,omitempty"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
	Version   int64     `json:"version,omitempty"`
}

// Record is a record as a plain JSON object: the type argument of
// [Collection] for code that does not know a collection's fields (the `sov`
// CLI uses it). Numbers are float64, times RFC 3339 strings.
type Record map[string]any

// ID returns the record's id, "" when it has none.
func (r Record) ID() string {
	s, _ := r[FieldID].(string)
	return s
}

// Version returns the record's version, 0 when it has none.
func (r Record) Version() int64 {
	switch v := r[FieldVersion].(type) {
	case float64:
		return int64(v)
	case json.Number:
		n, _ := v.Int64()
		return n
	}
	return 0
}

// encodeOpts say which system fields a write sends.
type encodeOpts struct {
	// keepID keeps a non-empty "id" (insert, upsert); otherwise it is
	// dropped (the id travels beside the record).
	keepID bool
}

// toStruct turns v (a struct with json tags, a map, a Record, or anything
// that marshals to a JSON object) into the Struct a write sends. It drops
// the system fields the platform sets, and refuses integers it could not
// carry exactly.
func toStruct(v any, o encodeOpts) (*structpb.Struct, error) {
	m, err := toObject(v)
	if err != nil {
		return nil, err
	}
	if id, ok := m[FieldID]; ok && (!o.keepID || id == nil || id == "") {
		delete(m, FieldID)
	}
	delete(m, FieldCreatedAt)
	delete(m, FieldUpdatedAt)
	delete(m, FieldVersion)
	s := &structpb.Struct{Fields: make(map[string]*structpb.Value, len(m))}
	for k, x := range m {
		pv, err := toValue(x, k)
		if err != nil {
			return nil, err
		}
		s.Fields[k] = pv
	}
	return s, nil
}

// toObject marshals v to JSON and reads it back as an object whose numbers
// are json.Number, so that no integer is rounded on the way.
func toObject(v any) (map[string]any, error) {
	if v == nil {
		return nil, invalidArgument("record is nil: want a struct or a map")
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, invalidArgument("record does not marshal to JSON: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, invalidArgument("record is not a JSON object: %.60s", b)
	}
	return m, nil
}

// toValue converts a JSON value decoded with UseNumber; path names it in
// errors (title, tags[2], meta.views).
func toValue(x any, path string) (*structpb.Value, error) {
	switch x := x.(type) {
	case nil:
		return structpb.NewNullValue(), nil
	case bool:
		return structpb.NewBoolValue(x), nil
	case string:
		return structpb.NewStringValue(x), nil
	case json.Number:
		f, err := numberValue(x, path)
		if err != nil {
			return nil, err
		}
		return structpb.NewNumberValue(f), nil
	case []any:
		l := &structpb.ListValue{Values: make([]*structpb.Value, len(x))}
		for i, e := range x {
			v, err := toValue(e, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			l.Values[i] = v
		}
		return structpb.NewListValue(l), nil
	case map[string]any:
		s := &structpb.Struct{Fields: make(map[string]*structpb.Value, len(x))}
		for k, e := range x {
			v, err := toValue(e, path+"."+k)
			if err != nil {
				return nil, err
			}
			s.Fields[k] = v
		}
		return structpb.NewStructValue(s), nil
	default:
		return nil, invalidArgument("field %s: unexpected JSON value %T", path, x)
	}
}

// numberValue reads a JSON number. Records travel as doubles, so an integer
// literal a double cannot hold exactly (beyond ±(2^53−1), such as 2^53+1) is
// refused rather than rounded; a number with a fraction or exponent is a
// double already. (A whole float64 such as 1e17 marshals as an integer
// literal and passes, being exact.)
func numberValue(n json.Number, path string) (float64, error) {
	s := string(n)
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil && i <= MaxSafeInteger && i >= -MaxSafeInteger {
			return float64(i), nil
		}
		bi, ok := new(big.Int).SetString(s, 10)
		if ok {
			if f, acc := new(big.Float).SetInt(bi).Float64(); acc == big.Exact {
				return f, nil
			}
		}
		return 0, invalidArgument("field %s: integer %s is beyond ±(2^53−1) and would be rounded on the way: a record holds integers up to 2^53−1 exactly; store larger ones as text", path, s)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, invalidArgument("field %s: number %s is out of range", path, s)
	}
	return f, nil
}

// fromStruct decodes a record the platform sent into out (a pointer).
func fromStruct(s *structpb.Struct, out any) error {
	b, err := structJSON(s)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("sovereign: decode record %s into %T: %w", Record(s.AsMap()).ID(), out, err)
	}
	return nil
}

// structJSON is the JSON object of s, keys sorted. Integral numbers are
// written without a fraction, so that they decode into integer fields.
func structJSON(s *structpb.Struct) ([]byte, error) {
	if s == nil {
		return []byte("{}"), nil
	}
	b, err := json.Marshal(s.AsMap())
	if err != nil {
		return nil, fmt.Errorf("sovereign: record is not JSON: %w", err)
	}
	return b, nil
}

// decodeRecord turns a record the platform sent into a T.
func decodeRecord[T any](s *structpb.Struct) (T, error) {
	var v T
	err := fromStruct(s, &v)
	return v, err
}

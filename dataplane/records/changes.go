package records

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/sovereign-backend/sovereign/dataplane/schema"
)

// FromRowJSON turns a row of c's table as PostgreSQL's to_jsonb renders it
// (what the change log keeps, see schema.ChangesTable) into the Record that
// Get returns for the same row: the Go values listed in the package
// documentation, which filter.Program.Eval and filter.Rule.Eval take.
// Columns that are not fields of c (any more) are left out; fields the row
// lacks (added since) are null.
func FromRowJSON(c *schema.Collection, row []byte) (Record, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(row, &raw); err != nil {
		return nil, fmt.Errorf("records: decode row of %s: %w", c.Name, err)
	}
	cols := allColumns(c)
	rec := make(Record, len(cols))
	for _, col := range cols {
		v, err := rowValue(col, raw[col.name])
		if err != nil {
			return nil, fmt.Errorf("records: decode row of %s: field %s: %w", c.Name, col.name, err)
		}
		rec[col.name] = v
	}
	return rec, nil
}

// rowValue decodes one to_jsonb value of column col.
func rowValue(col column, raw json.RawMessage) (any, error) {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	switch col.typ {
	case schema.Text, schema.File, schema.Relation:
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	case schema.Boolean:
		var b bool
		err := json.Unmarshal(raw, &b)
		return b, err
	case schema.Integer:
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return nil, err
		}
		return strconv.ParseInt(n.String(), 10, 64)
	case schema.Number:
		// to_jsonb writes NaN and ±Infinity as strings.
		var s string
		if json.Unmarshal(raw, &s) == nil {
			switch s {
			case "NaN":
				return math.NaN(), nil
			case "Infinity":
				return math.Inf(1), nil
			case "-Infinity":
				return math.Inf(-1), nil
			}
			return nil, fmt.Errorf("want a number, got %q", s)
		}
		var f float64
		err := json.Unmarshal(raw, &f)
		return f, err
	case schema.Timestamp:
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		return parseRowTime(s)
	case schema.JSON:
		var v any
		err := json.Unmarshal(raw, &v)
		return v, err
	case schema.Vector:
		var fs []float64
		if err := json.Unmarshal(raw, &fs); err != nil {
			return nil, err
		}
		out := make([]float32, len(fs))
		for i, f := range fs {
			out[i] = float32(f)
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown type %q", col.typ)
}

// parseRowTime reads a timestamptz as to_jsonb writes it: ISO 8601 with
// the session time zone's offset, which may carry seconds for historical
// zones.
func parseRowTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999-07", "2006-01-02T15:04:05.999999999-07:00:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	switch s {
	case "infinity", "-infinity":
		return time.Time{}, fmt.Errorf("timestamp %s cannot be represented", s)
	}
	return time.Time{}, fmt.Errorf("want a timestamp, got %q", s)
}

// MarshalRecord encodes rec as the REST API answers it (and the Connect
// API's JSON form): timestamps as RFC 3339 strings in UTC with
// microseconds (TimeFormat), integers and numbers as JSON numbers, vectors
// as arrays of numbers, json fields as they are. Keys come sorted.
func MarshalRecord(rec Record) (json.RawMessage, error) {
	v, err := restValue(map[string]any(rec))
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// restValue is v as encoding/json should write it for REST, the same
// values structValue gives the Connect API.
func restValue(v any) (any, error) {
	switch x := v.(type) {
	case nil, string, bool, int64, json.Number:
		return x, nil
	case int:
		return int64(x), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			// What structpb's JSON form writes for them.
			switch {
			case math.IsNaN(x):
				return "NaN", nil
			case x > 0:
				return "Infinity", nil
			}
			return "-Infinity", nil
		}
		return x, nil
	case time.Time:
		return x.UTC().Format(TimeFormat), nil
	case []float32:
		out := make([]float64, len(x))
		for i, f := range x {
			out[i] = float64(f)
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			ev, err := restValue(e)
			if err != nil {
				return nil, err
			}
			out[i] = ev
		}
		return out, nil
	case Record:
		return restValue(map[string]any(x))
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			ev, err := restValue(e)
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", k, err)
			}
			out[k] = ev
		}
		return out, nil
	}
	return nil, fmt.Errorf("records: cannot encode %T", v)
}

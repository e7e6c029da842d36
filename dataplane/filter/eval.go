package filter

import (
	"cmp"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// eval is the Go reading of the compiled tree; see the package doc for the
// rules it shares with the SQL.
func eval(e expr, rec map[string]any) (bool, error) {
	switch e := e.(type) {
	case andExpr:
		l, err := eval(e.l, rec)
		if err != nil || !l {
			return false, err
		}
		return eval(e.r, rec)
	case orExpr:
		l, err := eval(e.l, rec)
		if err != nil || l {
			return l, err
		}
		return eval(e.r, rec)
	case notExpr:
		x, err := eval(e.x, rec)
		return !x, err
	case constExpr:
		return e.v, nil
	case truthExpr:
		v, null, err := field(e.col, rec)
		return !null && v.b, err
	case nullExpr:
		raw := rec[e.col.name]
		return (raw == nil) == e.null, nil
	case cmpExpr:
		l, null, err := operandValue(e.l, rec)
		if err != nil || null {
			return false, err
		}
		r, null, err := operandValue(e.r, rec)
		if err != nil || null {
			return false, err
		}
		c := compare(e.dom, l, r)
		switch e.op {
		case "==":
			return c == 0, nil
		case "!=":
			return c != 0, nil
		case "<":
			return c < 0, nil
		case "<=":
			return c <= 0, nil
		case ">":
			return c > 0, nil
		default:
			return c >= 0, nil
		}
	case inExpr:
		x, null, err := operandValue(e.x, rec)
		if err != nil || null {
			return false, err
		}
		for _, v := range e.vals {
			if compare(e.dom, x, v) == 0 {
				return true, nil
			}
		}
		return false, nil
	case likeExpr:
		v, null, err := field(e.col, rec)
		if err != nil || null {
			return false, err
		}
		switch e.mode {
		case "startsWith":
			return strings.HasPrefix(v.s, e.s), nil
		case "endsWith":
			return strings.HasSuffix(v.s, e.s), nil
		default:
			return strings.Contains(v.s, e.s), nil
		}
	case matchExpr:
		v, null, err := field(e.col, rec)
		if err != nil || null {
			return false, err
		}
		return e.re.MatchString(v.s), nil
	}
	return false, fmt.Errorf("filter: unknown expression %T", e)
}

func operandValue(o operand, rec map[string]any) (value, bool, error) {
	switch {
	case o.lit != nil:
		return *o.lit, false, nil
	case o.size:
		v, null, err := field(o.col, rec)
		if err != nil || null {
			return value{}, null, err
		}
		return value{k: kInt, i: int64(utf8.RuneCountInString(v.s))}, false, nil
	default:
		return field(o.col, rec)
	}
}

// field reads a column's value from a record; a missing key or nil is null.
func field(col *column, rec map[string]any) (v value, null bool, err error) {
	raw, ok := rec[col.name]
	if !ok || raw == nil {
		return value{}, true, nil
	}
	v.k = col.kind
	switch col.kind {
	case kText, kUUID:
		switch x := raw.(type) {
		case string:
			v.s = x
			if col.kind == kUUID && strings.ContainsAny(x, "ABCDEF") {
				v.s = strings.ToLower(x)
			}
			return v, false, nil
		case uuid.UUID:
			if col.kind == kUUID {
				v.s = x.String()
				return v, false, nil
			}
		case [16]byte:
			if col.kind == kUUID {
				v.s = uuid.UUID(x).String()
				return v, false, nil
			}
		}
	case kInt:
		switch x := raw.(type) {
		case int64:
			v.i = x
			return v, false, nil
		case int:
			v.i = int64(x)
			return v, false, nil
		case int32:
			v.i = int64(x)
			return v, false, nil
		}
	case kDouble:
		switch x := raw.(type) {
		case float64:
			v.f = x
			return v, false, nil
		case float32:
			v.f = float64(x)
			return v, false, nil
		case int64:
			v.f = float64(x)
			return v, false, nil
		}
	case kBool:
		if x, ok := raw.(bool); ok {
			v.b = x
			return v, false, nil
		}
	case kTime:
		if x, ok := raw.(time.Time); ok {
			v.t = x
			return v, false, nil
		}
	}
	return value{}, false, fmt.Errorf("filter: field %q holds a %T, not %s value", col.name, raw, article(col.typeName))
}

// compare orders a and b in domain dom the way PostgreSQL does: integers
// become doubles where the domain is double, and NaN equals NaN and sorts
// above every other double.
func compare(dom kind, a, b value) int {
	switch dom {
	case kInt:
		return cmp.Compare(a.i, b.i)
	case kDouble:
		x, y := toFloat(a), toFloat(b)
		switch xn, yn := math.IsNaN(x), math.IsNaN(y); {
		case xn && yn:
			return 0
		case xn:
			return 1
		case yn:
			return -1
		}
		return cmp.Compare(x, y)
	case kBool:
		switch {
		case a.b == b.b:
			return 0
		case b.b:
			return -1
		}
		return 1
	case kTime:
		return a.t.Compare(b.t)
	default: // kText, kUUID: bytes, the C collation's order
		return strings.Compare(a.s, b.s)
	}
}

func toFloat(v value) float64 {
	if v.k == kInt {
		return float64(v.i)
	}
	return v.f
}

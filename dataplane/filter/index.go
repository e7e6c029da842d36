package filter

import "math"

// Equalities returns the filter's top-level equality conjuncts: for a
// filter of the form `a == 1 && b == "x" && …` (in any order and nesting of
// &&), each field compared with == to a literal, mapped to that literal.
// A record can pass the filter only if, for each entry, its field equals
// the literal, so a caller holding many filters (the realtime feed) can
// index them by one of these values and evaluate only the candidates whose
// value a record carries.
//
// Literals come in the Go form Eval compares with, converted to the
// comparison's domain: string (text, and UUIDs in canonical lower case),
// int64 (integer), float64 (number; also an integer literal compared with a
// number field), bool and time.Time. A comparison with NaN, with null, of a
// field's size, or under || or ! is not an equality here; a field compared
// twice keeps the first literal (a filter `a == 1 && a == 2` matches
// nothing, which the evaluation of the candidates still finds). nil when
// there are none.
func (p *Program) Equalities() map[string]any {
	var out map[string]any
	var walk func(e expr)
	walk = func(e expr) {
		switch e := e.(type) {
		case andExpr:
			walk(e.l)
			walk(e.r)
		case truthExpr:
			put(&out, e.col.name, true)
		case cmpExpr:
			if e.op != "==" {
				return
			}
			col, lit := e.l, e.r
			if col.lit != nil {
				col, lit = lit, col
			}
			if col.col == nil || col.size || col.col.param != "" || lit.lit == nil {
				return
			}
			if v, ok := domainValue(e.dom, *lit.lit); ok {
				put(&out, col.col.name, v)
			}
		}
	}
	walk(p.root)
	return out
}

func put(m *map[string]any, name string, v any) {
	if *m == nil {
		*m = map[string]any{}
	}
	if _, ok := (*m)[name]; !ok {
		(*m)[name] = v
	}
}

// domainValue is literal v as a Go value of domain dom.
func domainValue(dom kind, v value) (any, bool) {
	switch dom {
	case kText, kUUID:
		return v.s, true
	case kInt:
		return v.i, true
	case kDouble:
		f := v.f
		if v.k == kInt {
			f = float64(v.i)
		}
		if math.IsNaN(f) {
			return nil, false
		}
		return f, true
	case kBool:
		return v.b, true
	case kTime:
		return v.t, true
	}
	return nil, false
}

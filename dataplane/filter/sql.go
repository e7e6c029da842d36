package filter

import (
	"strconv"
	"strings"
)

// sqlWriter writes the compiled tree as SQL. Literals only ever become
// placeholders; the text holds quoted column names, placeholders with casts,
// operators and keywords. A rule's policy (policy set) has no placeholders:
// literals are rendered by literal and request values read the sovereign.*
// settings.
type sqlWriter struct {
	b    strings.Builder
	base int
	args []any
	// In rules: the request's values for placeholders (nil in policies),
	// the rule's method, and whether this is a policy.
	auth   *Auth
	method string
	policy bool
	err    error
}

var sqlOps = map[string]string{"==": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}

// jsonNull is what jsonb_typeof says of a JSON null.
const jsonNull = "null"

func (w *sqlWriter) arg(v any, typ string) {
	if w.policy {
		lit, err := literal(v, typ)
		if err != nil && w.err == nil {
			w.err = err
		}
		w.b.WriteString(lit)
		return
	}
	w.args = append(w.args, v)
	w.b.WriteByte('$')
	w.b.WriteString(strconv.Itoa(w.base + len(w.args)))
	w.b.WriteString("::")
	w.b.WriteString(typ)
}

func (w *sqlWriter) expr(e expr) {
	switch e := e.(type) {
	case andExpr:
		w.b.WriteByte('(')
		w.expr(e.l)
		w.b.WriteString(" AND ")
		w.expr(e.r)
		w.b.WriteByte(')')
	case orExpr:
		w.b.WriteByte('(')
		w.expr(e.l)
		w.b.WriteString(" OR ")
		w.expr(e.r)
		w.b.WriteByte(')')
	case notExpr:
		// NULL (a comparison with a null) counts as false, so its
		// negation is true: IS NOT TRUE, not NOT.
		w.b.WriteByte('(')
		w.expr(e.x)
		w.b.WriteString(") IS NOT TRUE")
	case constExpr:
		if e.v {
			w.b.WriteString("TRUE")
		} else {
			w.b.WriteString("FALSE")
		}
	case truthExpr:
		w.col(e.col)
	case nullExpr:
		if e.col.param != "" {
			w.b.WriteByte('(')
			w.col(e.col)
			if e.null {
				w.b.WriteString(") IS NULL")
			} else {
				w.b.WriteString(") IS NOT NULL")
			}
			return
		}
		switch {
		case e.col.kind == kJSON && e.null:
			// A JSON null is null as well as an SQL NULL: Go sees nil
			// for both.
			w.b.WriteString("(" + e.col.quoted + " IS NULL OR jsonb_typeof(" + e.col.quoted + ") = ")
			w.arg(jsonNull, "text")
			w.b.WriteByte(')')
		case e.col.kind == kJSON:
			w.b.WriteString("jsonb_typeof(" + e.col.quoted + ") <> ")
			w.arg(jsonNull, "text")
		case e.null:
			w.b.WriteString(e.col.quoted + " IS NULL")
		default:
			w.b.WriteString(e.col.quoted + " IS NOT NULL")
		}
	case cmpExpr:
		w.operand(e.l, e.dom)
		w.b.WriteString(" " + sqlOps[e.op] + " ")
		w.operand(e.r, e.dom)
	case inExpr:
		if len(e.vals) == 0 {
			w.b.WriteString("FALSE")
			return
		}
		w.operand(e.x, e.dom)
		w.b.WriteString(" IN (")
		for i, v := range e.vals {
			if i > 0 {
				w.b.WriteString(", ")
			}
			w.arg(v.arg(), sqlType[e.dom])
		}
		w.b.WriteByte(')')
	case likeExpr:
		p := likeEscaper.Replace(e.s)
		switch e.mode {
		case "startsWith":
			p += "%"
		case "endsWith":
			p = "%" + p
		default:
			p = "%" + p + "%"
		}
		w.col(e.col)
		w.b.WriteString(" LIKE ")
		w.arg(p, "text")
	case matchExpr:
		w.col(e.col)
		w.b.WriteString(" ~ ")
		w.arg(e.pg, "text")
	}
}

// likeEscaper escapes LIKE's wildcards with its default escape character.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

func (w *sqlWriter) operand(o operand, dom kind) {
	switch {
	case o.lit != nil:
		w.arg(o.lit.arg(), sqlType[dom])
	case o.size:
		w.b.WriteString("char_length(")
		w.col(o.col)
		w.b.WriteByte(')')
	case dom == kText && o.col.kind == kUUID:
		// An id or relation compared with a request value, as text.
		w.b.WriteString(o.col.quoted + "::text")
	default:
		w.col(o.col)
	}
}

// col writes a column, or the SQL of a request value: a placeholder in
// queries, the sovereign.* setting (or now(), or the rule's method) in
// policies.
func (w *sqlWriter) col(c *column) {
	if c.param == "" {
		w.b.WriteString(c.quoted)
		return
	}
	if w.policy {
		w.b.WriteString(policyParam(c, w.method))
		return
	}
	if c.param == paramTime {
		w.arg(w.auth.Time, "timestamptz")
		return
	}
	w.arg(paramValue(c, w.auth, w.method), "text")
}

package filter

import (
	"strconv"
	"strings"
)

// sqlWriter writes the compiled tree as SQL. Literals only ever become
// placeholders; the text holds quoted column names, placeholders with casts,
// operators and keywords.
type sqlWriter struct {
	b    strings.Builder
	base int
	args []any
}

var sqlOps = map[string]string{"==": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}

// jsonNull is what jsonb_typeof says of a JSON null.
const jsonNull = "null"

func (w *sqlWriter) arg(v any, typ string) {
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
		w.b.WriteString(e.col.quoted)
	case nullExpr:
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
		w.b.WriteString(e.col.quoted + " LIKE ")
		w.arg(p, "text")
	case matchExpr:
		w.b.WriteString(e.col.quoted + " ~ ")
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
		w.b.WriteString("char_length(" + o.col.quoted + ")")
	default:
		w.b.WriteString(o.col.quoted)
	}
}

package filter

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"github.com/google/uuid"
)

// The compiled form: a small tree that both the SQL writer and the Go
// evaluator walk, so that the two cannot drift apart in structure.
type expr interface{ isExpr() }

type (
	andExpr   struct{ l, r expr }
	orExpr    struct{ l, r expr }
	notExpr   struct{ x expr }
	constExpr struct{ v bool }
	// truthExpr is a boolean field used as a condition.
	truthExpr struct{ col *column }
	// nullExpr is x == null (null true) or x != null (null false).
	nullExpr struct {
		col  *column
		null bool
	}
	// cmpExpr compares two operands in domain dom (kInt, kDouble, kText,
	// kUUID, kBool or kTime). At least one operand is not a literal.
	cmpExpr struct {
		op   string // one of == != < <= > >=
		l, r operand
		dom  kind
	}
	// inExpr is x in [vals], vals already converted to dom.
	inExpr struct {
		x    operand
		vals []value
		dom  kind
	}
	// likeExpr is startsWith, endsWith or contains on a text field.
	likeExpr struct {
		col  *column
		mode string // startsWith, endsWith, contains
		s    string
	}
	// matchExpr is matches on a text field: re for Go, pg for PostgreSQL.
	matchExpr struct {
		col *column
		re  *regexp.Regexp
		pg  string
	}
)

func (andExpr) isExpr()   {}
func (orExpr) isExpr()    {}
func (notExpr) isExpr()   {}
func (constExpr) isExpr() {}
func (truthExpr) isExpr() {}
func (nullExpr) isExpr()  {}
func (cmpExpr) isExpr()   {}
func (inExpr) isExpr()    {}
func (likeExpr) isExpr()  {}
func (matchExpr) isExpr() {}

// operand is a side of a comparison: a column, the character length of a
// text column, or a literal.
type operand struct {
	col  *column
	size bool
	lit  *value
}

// kind is the operand's kind before any conversion.
func (o operand) kind() kind {
	switch {
	case o.lit != nil:
		return o.lit.k
	case o.size:
		return kInt
	default:
		return o.col.kind
	}
}

// value is a literal.
type value struct {
	k kind
	i int64
	f float64
	s string // kText and kUUID (canonical form)
	b bool
	t time.Time
	d time.Duration
}

// arg is the value as an SQL argument.
func (v value) arg() any {
	switch v.k {
	case kInt:
		return v.i
	case kDouble:
		return v.f
	case kBool:
		return v.b
	case kTime:
		return v.t
	default: // kText, kUUID
		return v.s
	}
}

var comparisons = map[string]string{
	operators.Equals:        "==",
	operators.NotEquals:     "!=",
	operators.Less:          "<",
	operators.LessEquals:    "<=",
	operators.Greater:       ">",
	operators.GreaterEquals: ">=",
}

// flipped is the operator that gives the same result with its sides swapped.
var flipped = map[string]string{"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}

var stringFuncs = map[string]bool{"startsWith": true, "endsWith": true, "contains": true, "matches": true}

// supported are the calls a filter may contain; what each may do is
// decided when it is translated.
var supported = map[string]bool{
	operators.LogicalAnd: true, operators.LogicalOr: true, operators.LogicalNot: true,
	operators.Equals: true, operators.NotEquals: true, operators.Less: true,
	operators.LessEquals: true, operators.Greater: true, operators.GreaterEquals: true,
	operators.In: true, operators.Add: true, operators.Subtract: true,
	"startsWith": true, "endsWith": true, "contains": true, "matches": true,
	"size": true, "timestamp": true, "duration": true,
}

// readable names CEL's operator functions the way a filter spells them.
var readable = map[string]string{
	operators.Conditional: "the conditional operator ?:",
	operators.Multiply:    "*", operators.Divide: "/", operators.Modulo: "%",
	operators.Negate: "unary -", operators.Index: "indexing with []",
	operators.OptIndex: "optional indexing", operators.OptSelect: "optional selection",
	operators.Add: "+", operators.Subtract: "-", operators.LogicalNot: "!",
}

type translator struct {
	env   *Env
	src   string
	info  *ast.SourceInfo
	fac   ast.ExprFactory
	nodes int
	// In rules: the columns of claims by the id of the node that names
	// them, the record fields read and the claims read.
	extra  map[int64]*column
	fields []string
	claims []*column
	// starts maps a qualified name's node (record.title) to where its
	// first part starts (line, column as CEL counts them), where errors
	// about it point.
	starts map[int64][2]int
}

// column is the column (or request value) an identifier names, nil when
// it names none.
func (t *translator) column(e ast.Expr) *column {
	if c, ok := t.extra[e.ID()]; ok {
		return c
	}
	return t.env.columns[e.AsIdent()]
}

// build parses, checks and translates a filter.
func (e *Env) build(src string) (expr, error) {
	root, _, err := e.translate(src)
	return root, err
}

// translate parses, checks and translates a filter or rule, and returns
// the translator for what it learnt on the way.
func (e *Env) translate(src string) (expr, *translator, error) {
	root, t, err := e.translate1(src)
	if err != nil && e.rule {
		if fe, ok := err.(*Error); ok {
			fe.Message = ruleWording.Replace(fe.Message)
		}
	}
	return root, t, err
}

// ruleWording says "rule" where messages shared with filters say "filter".
var ruleWording = strings.NewReplacer("in filters", "in rules", "the filter", "the rule")

func (e *Env) translate1(src string) (expr, *translator, error) {
	if len(src) > MaxLen {
		return nil, nil, &Error{Message: fmt.Sprintf("the filter is %d bytes long, more than the limit of %d", len(src), MaxLen)}
	}
	if strings.TrimSpace(src) == "" {
		return nil, nil, &Error{Line: 1, Column: 1, Message: "the filter is empty"}
	}
	parsed, iss := e.cel.Parse(src)
	if iss.Err() != nil {
		ce := iss.Errors()[0]
		return nil, nil, e.errAtLocation(src, ce.Location.Line(), ce.Location.Column(), "", syntaxMessage(ce.Message))
	}
	native := parsed.NativeRep()
	t := &translator{env: e, src: src, info: native.SourceInfo(), fac: ast.NewExprFactory()}
	if err := t.walk(native.Expr(), 1, false); err != nil {
		return nil, nil, err
	}
	if _, iss := e.cel.Check(parsed); iss.Err() != nil {
		return nil, nil, t.checkError(native.Expr(), iss.Errors()[0].ExprID, iss.Errors()[0].Message)
	}
	root, err := t.pred(native.Expr())
	return root, t, err
}

func (e *Env) errAtLocation(src string, line, col int, field, msg string) *Error {
	if line < 1 {
		line, col = 1, 0
	}
	off, column := position(src, line, col)
	return &Error{Offset: off, Line: line, Column: column, Field: field, Message: msg}
}

// errAt is an error at the expression id; with a field, the message is
// prefixed with the field's name.
func (t *translator) errAt(id int64, field, format string, args ...any) *Error {
	msg := fmt.Sprintf(format, args...)
	if field != "" {
		msg = field + ": " + msg
	}
	if p, ok := t.starts[id]; ok {
		return t.env.errAtLocation(t.src, p[0], p[1], field, msg)
	}
	loc := t.info.GetStartLocation(id)
	return t.env.errAtLocation(t.src, loc.Line(), loc.Column(), field, msg)
}

// walk enforces the limits and the supported constructs before type
// checking, so that what filters refuse gets a message of its own rather
// than a type error, reports unknown fields, and reads integer literals
// compared with number fields as doubles.
func (t *translator) walk(e ast.Expr, depth int, listOK bool) error {
	t.nodes++
	if t.nodes > MaxNodes {
		return &Error{Message: fmt.Sprintf("the filter has more than %d expression nodes", MaxNodes)}
	}
	if depth > MaxDepth {
		return t.errAt(e.ID(), "", "the filter is nested more than %d levels deep", MaxDepth)
	}
	switch e.Kind() {
	case ast.IdentKind:
		name := e.AsIdent()
		if t.env.rule {
			return t.bareName(e)
		}
		col, ok := t.env.columns[name]
		if !ok {
			le := t.errAt(e.ID(), "", "unknown field %q", name)
			le.Field = name
			return le
		}
		if col.kind == kVector {
			return t.errAt(e.ID(), col.name, "vector fields cannot be used in filters")
		}
		return nil
	case ast.LiteralKind:
		switch e.AsLiteral().(type) {
		case types.Uint:
			return t.errAt(e.ID(), "", "unsigned integer literals are not supported in filters")
		case types.Bytes:
			return t.errAt(e.ID(), "", "bytes literals are not supported in filters")
		}
		return nil
	case ast.ListKind:
		if !listOK {
			return t.errAt(e.ID(), "", "lists are only supported on the right of in")
		}
		for _, el := range e.AsList().Elements() {
			if err := t.walk(el, depth+1, false); err != nil {
				return err
			}
		}
		return nil
	case ast.SelectKind:
		if t.env.rule {
			return t.qualified(e)
		}
		sel := e.AsSelect()
		if op := sel.Operand(); op.Kind() == ast.IdentKind {
			if col, ok := t.env.columns[op.AsIdent()]; ok {
				return t.errAt(e.ID(), col.name, "nested paths (%s.%s) are not supported in filters", col.name, sel.FieldName())
			}
		}
		return t.errAt(e.ID(), "", "field selection (.%s) is not supported in filters", sel.FieldName())
	case ast.CallKind:
		call := e.AsCall()
		fn := call.FunctionName()
		if !supported[fn] {
			if r, ok := readable[fn]; ok {
				return t.errAt(e.ID(), "", "%s is not supported in filters", r)
			}
			return t.errAt(e.ID(), "", "function %s is not supported in filters", fn)
		}
		if call.IsMemberFunction() {
			if err := t.walk(call.Target(), depth+1, false); err != nil {
				return err
			}
		}
		args := call.Args()
		for i, a := range args {
			if err := t.walk(a, depth+1, fn == operators.In && i == 1); err != nil {
				return err
			}
		}
		if _, ok := comparisons[fn]; ok && len(args) == 2 {
			t.widen(args[0], args[1])
			t.widen(args[1], args[0])
		}
		if fn == operators.In && len(args) == 2 && args[1].Kind() == ast.ListKind {
			for _, el := range args[1].AsList().Elements() {
				t.widen(args[0], el)
			}
		}
		return nil
	default:
		return t.errAt(e.ID(), "", "maps, messages and comprehensions are not supported in filters")
	}
}

// widen rewrites lit to a double literal when it is an integer literal and
// other is a number field, so that price == 5 type-checks and means 5.0.
func (t *translator) widen(other, lit ast.Expr) {
	if other.Kind() != ast.IdentKind || lit.Kind() != ast.LiteralKind {
		return
	}
	col := t.column(other)
	if col == nil || col.kind != kDouble {
		return
	}
	if i, ok := lit.AsLiteral().(types.Int); ok {
		lit.SetKindCase(t.fac.NewLiteral(lit.ID(), types.Double(float64(i))))
	}
}

// find returns the node with the id.
func find(e ast.Expr, id int64) ast.Expr {
	if e.ID() == id {
		return e
	}
	switch e.Kind() {
	case ast.CallKind:
		c := e.AsCall()
		if c.IsMemberFunction() {
			if f := find(c.Target(), id); f != nil {
				return f
			}
		}
		for _, a := range c.Args() {
			if f := find(a, id); f != nil {
				return f
			}
		}
	case ast.ListKind:
		for _, el := range e.AsList().Elements() {
			if f := find(el, id); f != nil {
				return f
			}
		}
	}
	return nil
}

// describe names an operand's type and the field it reads, for messages.
func (t *translator) describe(e ast.Expr) (typeName string, col *column) {
	switch e.Kind() {
	case ast.IdentKind:
		if c := t.column(e); c != nil {
			return c.typeName, c
		}
	case ast.LiteralKind:
		switch e.AsLiteral().(type) {
		case types.Int:
			return "integer", nil
		case types.Double:
			return "double", nil
		case types.String:
			return "string", nil
		case types.Bool:
			return "boolean", nil
		case types.Null:
			return "null", nil
		}
	case ast.ListKind:
		return "list", nil
	case ast.CallKind:
		c := e.AsCall()
		switch c.FunctionName() {
		case "size":
			_, col := t.describe(sizeArg(c))
			return "integer", col
		case "timestamp":
			return "timestamp", nil
		case "duration":
			return "duration", nil
		case operators.Add, operators.Subtract:
			return "arithmetic", nil
		}
		return "boolean", nil
	}
	return "expression", nil
}

func sizeArg(c ast.CallExpr) ast.Expr {
	if c.IsMemberFunction() {
		return c.Target()
	}
	if len(c.Args()) > 0 {
		return c.Args()[0]
	}
	return nil
}

// checkError turns the type checker's first complaint into a message that
// names the field at fault.
func (t *translator) checkError(root ast.Expr, id int64, celMsg string) *Error {
	node := find(root, id)
	if node != nil && node.Kind() == ast.IdentKind {
		if col := t.column(node); col != nil && col.kind != kBool {
			return t.errAt(id, col.name, "%s field is not a condition; compare it with a value", article(col.typeName))
		}
	}
	if node == nil || node.Kind() != ast.CallKind {
		return t.errAt(id, "", "%s", celMsg)
	}
	call := node.AsCall()
	fn := call.FunctionName()
	args := call.Args()
	if _, ok := comparisons[fn]; (ok || fn == operators.In) && len(args) == 2 {
		if ok && (isNull(args[0]) || isNull(args[1])) {
			_, col := t.describe(args[0])
			if col == nil {
				_, col = t.describe(args[1])
			}
			name := ""
			if col != nil {
				name = col.name
			}
			return t.errAt(id, name, "null can only be compared with == and !=")
		}
		lt, lcol := t.describe(args[0])
		right := args[1]
		if fn == operators.In && right.Kind() == ast.ListKind {
			for _, el := range right.AsList().Elements() {
				if rt, _ := t.describe(el); rt != lt {
					right = el
					break
				}
			}
		}
		rt, rcol := t.describe(right)
		switch {
		case lcol != nil:
			return t.errAt(args[0].ID(), lcol.name, "cannot compare %s with %s", lt, rt)
		case rcol != nil:
			return t.errAt(right.ID(), rcol.name, "cannot compare %s with %s", rt, lt)
		}
		return t.errAt(id, "", "cannot compare %s with %s", lt, rt)
	}
	switch {
	case stringFuncs[fn] || fn == "size":
		target := sizeArg(call)
		if target != nil {
			if tn, col := t.describe(target); col != nil {
				if col.kind != kText {
					return t.errAt(target.ID(), col.name, "%s applies to text and file fields, not %s", fn, tn)
				}
				return t.errAt(target.ID(), col.name, "%s takes a string", fn)
			}
		}
		return t.errAt(id, "", "%s applies to a text or file field", fn)
	case fn == "timestamp" || fn == "duration":
		return t.errAt(id, "", "%s takes a string literal", fn)
	case fn == operators.Add || fn == operators.Subtract:
		return t.errAt(id, "", "arithmetic is not supported in filters, except timestamp(…) ± duration(…)")
	case fn == operators.LogicalAnd || fn == operators.LogicalOr || fn == operators.LogicalNot:
		for _, a := range args {
			if tn, col := t.describe(a); col != nil && col.kind != kBool {
				return t.errAt(a.ID(), col.name, "%s field is not a condition; compare it with a value", article(tn))
			}
		}
		return t.errAt(id, "", "&&, || and ! take conditions")
	}
	return t.errAt(id, "", "%s", celMsg)
}

// pred translates a condition.
func (t *translator) pred(e ast.Expr) (expr, error) {
	switch e.Kind() {
	case ast.LiteralKind:
		if b, ok := e.AsLiteral().(types.Bool); ok {
			return constExpr{v: bool(b)}, nil
		}
		tn, _ := t.describe(e)
		return nil, t.errAt(e.ID(), "", "%s is not a condition", article(tn))
	case ast.IdentKind:
		col := t.column(e)
		if col.kind == kBool {
			return truthExpr{col: col}, nil
		}
		return nil, t.errAt(e.ID(), col.name, "%s field is not a condition; compare it with a value", article(col.typeName))
	case ast.CallKind:
		call := e.AsCall()
		args := call.Args()
		switch fn := call.FunctionName(); fn {
		case operators.LogicalAnd, operators.LogicalOr:
			l, err := t.pred(args[0])
			if err != nil {
				return nil, err
			}
			r, err := t.pred(args[1])
			if err != nil {
				return nil, err
			}
			if fn == operators.LogicalAnd {
				return andExpr{l, r}, nil
			}
			return orExpr{l, r}, nil
		case operators.LogicalNot:
			x, err := t.pred(args[0])
			if err != nil {
				return nil, err
			}
			return notExpr{x}, nil
		case operators.In:
			return t.in(args[0], args[1])
		case "startsWith", "endsWith", "contains", "matches":
			target, arg := call.Target(), args[0]
			if !call.IsMemberFunction() {
				target, arg = args[0], args[1]
			}
			return t.strfn(fn, target, arg)
		default:
			if op, ok := comparisons[fn]; ok {
				return t.cmp(e.ID(), op, args[0], args[1])
			}
			tn, _ := t.describe(e)
			if tn == "boolean" {
				tn = fn + "(…)"
			}
			return nil, t.errAt(e.ID(), "", "%s is not a condition", tn)
		}
	}
	return nil, t.errAt(e.ID(), "", "not a condition")
}

func isNull(e ast.Expr) bool {
	if e.Kind() != ast.LiteralKind {
		return false
	}
	_, ok := e.AsLiteral().(types.Null)
	return ok
}

// cmp translates a comparison.
func (t *translator) cmp(id int64, op string, a, b ast.Expr) (expr, error) {
	if isNull(a) {
		a, b = b, a
	}
	if isNull(b) {
		if isNull(a) {
			return nil, t.errAt(id, "", "compare a field with a value, not two values")
		}
		if a.Kind() != ast.IdentKind {
			tn, _ := t.describe(a)
			return nil, t.errAt(a.ID(), "", "only fields can be compared with null, not %s", article(tn))
		}
		col := t.column(a)
		if col.kind == kVector {
			return nil, t.errAt(a.ID(), col.name, "vector fields cannot be used in filters")
		}
		if op != "==" && op != "!=" {
			return nil, t.errAt(id, col.name, "null can only be compared with == and !=")
		}
		return nullExpr{col: col, null: op == "=="}, nil
	}
	l, err := t.operand(a)
	if err != nil {
		return nil, err
	}
	r, err := t.operand(b)
	if err != nil {
		return nil, err
	}
	if l.lit != nil && r.lit != nil {
		return nil, t.errAt(id, "", "compare a field with a value, not two values")
	}
	if l.lit != nil {
		l, r, a, b = r, l, b, a
		op = flipped[op]
	}
	dom, err := t.domain(a, l, r, op)
	if err != nil {
		return nil, err
	}
	if r.lit != nil {
		v, err := t.convert(b, l, *r.lit, dom)
		if err != nil {
			return nil, err
		}
		r.lit = &v
	}
	return cmpExpr{op: op, l: l, r: r, dom: dom}, nil
}

// domain decides how the column operand l compares with r (a column
// operand or a literal).
func (t *translator) domain(at ast.Expr, l, r operand, op string) (kind, error) {
	lk, rk := l.kind(), r.kind()
	switch {
	case lk == rk && lk != kDuration:
		return lk, nil
	case (lk == kInt || lk == kDouble) && (rk == kInt || rk == kDouble):
		// Equality between an integer and a double is refused, as CEL's
		// type checker does; a number field's integer literals were
		// made doubles before checking.
		if op != "==" && op != "!=" {
			return kDouble, nil
		}
	case lk == kUUID && rk == kText && r.lit != nil:
		return kUUID, nil
	case r.lit == nil && ((lk == kUUID && rk == kText && r.col.param != "") || (lk == kText && l.col.param != "" && rk == kUUID)):
		// An id or relation compared with a request value (auth.uid):
		// as text, in the UUID's canonical form, since the request value
		// need not be a UUID at all ('' when anonymous).
		return kText, nil
	}
	lt := l.col.typeName
	if l.size {
		lt = "integer"
	}
	rt := kindName[rk]
	if r.lit == nil {
		rt = r.col.typeName
		if r.size {
			rt = "integer"
		}
	}
	return 0, t.errAt(at.ID(), l.col.name, "cannot compare %s with %s", lt, rt)
}

// convert makes the literal v, compared with column operand l, a value of
// domain dom.
func (t *translator) convert(at ast.Expr, l operand, v value, dom kind) (value, error) {
	switch {
	case dom == kDouble && v.k == kInt:
		return value{k: kDouble, f: float64(v.i)}, nil
	case dom == kUUID && v.k == kText:
		u, err := uuid.Parse(v.s)
		if err != nil || len(v.s) != 36 {
			return value{}, t.errAt(at.ID(), l.col.name, "%q is not a UUID", v.s)
		}
		return value{k: kUUID, s: u.String()}, nil
	}
	return v, nil
}

// operand translates a side of a comparison or the left of in.
func (t *translator) operand(e ast.Expr) (operand, error) {
	switch e.Kind() {
	case ast.IdentKind:
		col := t.column(e)
		switch col.kind {
		case kVector:
			return operand{}, t.errAt(e.ID(), col.name, "vector fields cannot be used in filters")
		case kJSON:
			return operand{}, t.errAt(e.ID(), col.name, "json fields can only be compared with null in filters")
		}
		return operand{col: col}, nil
	case ast.CallKind:
		call := e.AsCall()
		if call.FunctionName() == "size" {
			arg := sizeArg(call)
			if arg == nil || arg.Kind() != ast.IdentKind {
				return operand{}, t.errAt(e.ID(), "", "size applies to a text or file field")
			}
			col := t.column(arg)
			if col.kind != kText {
				return operand{}, t.errAt(arg.ID(), col.name, "size applies to text and file fields, not %s", col.typeName)
			}
			return operand{col: col, size: true}, nil
		}
	}
	v, isConst, err := t.constant(e)
	if err != nil {
		return operand{}, err
	}
	if !isConst {
		tn, _ := t.describe(e)
		return operand{}, t.errAt(e.ID(), "", "only fields, size(…) and values can be compared, not %s", article(tn))
	}
	if v.k == kDuration {
		return operand{}, t.errAt(e.ID(), "", "a duration can only be added to or subtracted from a timestamp")
	}
	return operand{lit: &v}, nil
}

// constant evaluates a literal, timestamp(…), duration(…) or their sums.
func (t *translator) constant(e ast.Expr) (value, bool, error) {
	switch e.Kind() {
	case ast.LiteralKind:
		switch l := e.AsLiteral().(type) {
		case types.Int:
			return value{k: kInt, i: int64(l)}, true, nil
		case types.Double:
			f := float64(l)
			if math.IsInf(f, 0) || math.IsNaN(f) {
				return value{}, false, t.errAt(e.ID(), "", "number out of range")
			}
			return value{k: kDouble, f: f}, true, nil
		case types.Bool:
			return value{k: kBool, b: bool(l)}, true, nil
		case types.String:
			s := string(l)
			if !utf8.ValidString(s) {
				return value{}, false, t.errAt(e.ID(), "", "string is not valid UTF-8")
			}
			if strings.IndexByte(s, 0) >= 0 {
				return value{}, false, t.errAt(e.ID(), "", "strings cannot hold the NUL character")
			}
			return value{k: kText, s: s}, true, nil
		}
		return value{}, false, nil
	case ast.CallKind:
	default:
		return value{}, false, nil
	}
	call := e.AsCall()
	args := call.Args()
	switch fn := call.FunctionName(); fn {
	case "timestamp", "duration":
		if call.IsMemberFunction() || len(args) != 1 || args[0].Kind() != ast.LiteralKind {
			return value{}, false, t.errAt(e.ID(), "", "%s takes a string literal", fn)
		}
		s, ok := args[0].AsLiteral().(types.String)
		if !ok {
			return value{}, false, t.errAt(e.ID(), "", "%s takes a string literal", fn)
		}
		if fn == "duration" {
			d, err := time.ParseDuration(string(s))
			if err != nil {
				return value{}, false, t.errAt(args[0].ID(), "", "%q is not a duration (like \"1h30m\")", string(s))
			}
			return value{k: kDuration, d: d}, true, nil
		}
		ts, err := time.Parse(time.RFC3339Nano, string(s))
		if err != nil {
			return value{}, false, t.errAt(args[0].ID(), "", "%q is not an RFC 3339 timestamp (like \"2024-05-01T10:00:00Z\")", string(s))
		}
		v, err := t.timestamp(args[0], ts)
		return v, err == nil, err
	case operators.Add, operators.Subtract:
		a, aok, err := t.constant(args[0])
		if err != nil {
			return value{}, false, err
		}
		b, bok, err := t.constant(args[1])
		if err != nil {
			return value{}, false, err
		}
		if !aok || !bok {
			return value{}, false, t.errAt(e.ID(), "", "arithmetic is not supported in filters, except timestamp(…) ± duration(…)")
		}
		add := fn == operators.Add
		switch {
		case a.k == kTime && b.k == kDuration:
			if !add {
				b.d = -b.d
			}
			v, err := t.timestamp(e, a.t.Add(b.d))
			return v, err == nil, err
		case add && a.k == kDuration && b.k == kTime:
			v, err := t.timestamp(e, b.t.Add(a.d))
			return v, err == nil, err
		case a.k == kDuration && b.k == kDuration:
			d := a.d + b.d
			if !add {
				d = a.d - b.d
			}
			if (add && (b.d > 0) != (d > a.d)) || (!add && (b.d > 0) != (d < a.d)) {
				return value{}, false, t.errAt(e.ID(), "", "duration out of range")
			}
			return value{k: kDuration, d: d}, true, nil
		}
		return value{}, false, t.errAt(e.ID(), "", "arithmetic is not supported in filters, except timestamp(…) ± duration(…)")
	}
	return value{}, false, nil
}

// timestamp checks that ts is one PostgreSQL stores exactly.
func (t *translator) timestamp(at ast.Expr, ts time.Time) (value, error) {
	if y := ts.UTC().Year(); y < 1 || y > 9999 {
		return value{}, t.errAt(at.ID(), "", "timestamp out of range (years 1 to 9999)")
	}
	if ts.Nanosecond()%1000 != 0 {
		return value{}, t.errAt(at.ID(), "", "timestamps are stored to the microsecond; this one is more precise")
	}
	return value{k: kTime, t: ts.UTC()}, nil
}

// in translates x in [..].
func (t *translator) in(a, b ast.Expr) (expr, error) {
	if b.Kind() != ast.ListKind {
		return nil, t.errAt(b.ID(), "", "in takes a list of values, like n in [1, 2]")
	}
	if isNull(a) {
		return nil, t.errAt(a.ID(), "", "only fields and size(…) can be on the left of in")
	}
	x, err := t.operand(a)
	if err != nil {
		return nil, err
	}
	if x.lit != nil {
		return nil, t.errAt(a.ID(), "", "only fields and size(…) can be on the left of in")
	}
	// The list's values take x's kind: integers become doubles for a number
	// field, strings UUIDs for id and relation fields; a double for an
	// integer field is refused, as with ==.
	dom := x.kind()
	var vals []value
	for _, el := range b.AsList().Elements() {
		if isNull(el) {
			return nil, t.errAt(el.ID(), x.col.name, "null is not allowed in an in list; write %s == null || %s in […]", x.col.name, x.col.name)
		}
		v, isConst, err := t.constant(el)
		if err != nil {
			return nil, err
		}
		if !isConst || v.k == kDuration {
			tn, _ := t.describe(el)
			return nil, t.errAt(el.ID(), "", "an in list holds values, not %s", article(tn))
		}
		d, err := t.domain(a, x, operand{lit: &v}, "==")
		if err != nil {
			return nil, err
		}
		if d != dom {
			return nil, t.errAt(a.ID(), x.col.name, "cannot compare %s with %s", kindName[x.kind()], kindName[v.k])
		}
		if v, err = t.convert(el, x, v, dom); err != nil {
			return nil, err
		}
		vals = append(vals, v)
	}
	return inExpr{x: x, vals: vals, dom: dom}, nil
}

// strfn translates startsWith, endsWith, contains and matches.
func (t *translator) strfn(fn string, target, arg ast.Expr) (expr, error) {
	if target.Kind() != ast.IdentKind {
		return nil, t.errAt(target.ID(), "", "%s applies to a text or file field", fn)
	}
	col := t.column(target)
	if col.kind != kText {
		return nil, t.errAt(target.ID(), col.name, "%s applies to text and file fields, not %s", fn, col.typeName)
	}
	v, isConst, err := t.constant(arg)
	if err != nil {
		return nil, err
	}
	if !isConst || v.k != kText {
		return nil, t.errAt(arg.ID(), col.name, "%s takes a string literal", fn)
	}
	if fn != "matches" {
		return likeExpr{col: col, mode: fn, s: v.s}, nil
	}
	re, pg, err := translateRegexp(v.s)
	if err != nil {
		return nil, t.errAt(arg.ID(), col.name, "%v", err)
	}
	return matchExpr{col: col, re: re, pg: pg}, nil
}

// article puts "a" or "an" before a type name.
func article(s string) string {
	if s != "" && strings.ContainsRune("aeiou", rune(s[0])) {
		return "an " + s
	}
	return "a " + s
}

// syntaxMessage makes the parser's message readable: it drops the grammar's
// list of expected tokens and names the end of the text plainly.
func syntaxMessage(m string) string {
	m = strings.TrimPrefix(m, "Syntax error: ")
	if i := strings.Index(m, " expecting "); i >= 0 {
		m = m[:i]
	}
	m = strings.Replace(m, "mismatched input '<EOF>'", "unexpected end of the filter", 1)
	m = strings.Replace(m, "extraneous input '<EOF>'", "unexpected end of the filter", 1)
	m = strings.Replace(m, "mismatched input", "unexpected", 1)
	m = strings.Replace(m, "extraneous input", "unexpected", 1)
	return "syntax error: " + m
}

package sovereign

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Filter is a condition on a collection's records, in the platform's
// expression language (CEL): the same language as access rules and realtime
// subscriptions. Build one from fields with [Where], combine filters with
// [Filter.And], [Filter.Or], [And], [Or] and [Not], or write the text
// yourself with [Raw]:
//
//	sovereign.Where("n").Gt(5).And(sovereign.Where("title").StartsWith("a"))
//	// n > 5 && title.startsWith("a")
//
// The builder writes every value as a CEL literal, quoting and escaping
// strings, so a value taken from a user can never change the filter's
// meaning; the platform in turn compiles the filter to SQL with parameters.
// Field names are checked to be identifiers. A Filter that could not be
// built (a bad field name, a value with no literal) carries the error, which
// the call using it returns before sending anything.
//
// The zero Filter matches every record.
type Filter struct {
	text string
	prec int
	err  error
}

// Precedence levels of CEL's grammar, lowest first; a Filter records the
// level of its outermost operator, so that combining filters adds
// parentheses only where they are needed.
const (
	precRaw = iota // unknown text: always parenthesised when combined
	precOr
	precAnd
	precRelation
	// + - and * / % sit between relations and unary operators; the
	// builder writes neither.
	precUnary   = precRelation + 3
	precPrimary = precUnary + 1
)

// Raw is filter text written by hand, e.g. `n > 5 && title.startsWith("a")`.
// It is sent as is: never build it from user input (use [Where], whose values
// are escaped).
func Raw(text string) Filter {
	if strings.TrimSpace(text) == "" {
		return Filter{}
	}
	return Filter{text: text, prec: precRaw}
}

// String returns the filter's text; "" for the zero Filter or one that
// carries an error.
func (f Filter) String() string {
	if f.err != nil {
		return ""
	}
	return f.text
}

// Err returns why the filter could not be built, or nil.
func (f Filter) Err() error { return f.err }

// IsZero reports whether f is the zero Filter, which matches everything.
func (f Filter) IsZero() bool { return f.text == "" && f.err == nil }

// And is f && each of others. Zero filters are left out.
func (f Filter) And(others ...Filter) Filter { return And(append([]Filter{f}, others...)...) }

// Or is f || each of others. Zero filters are left out.
func (f Filter) Or(others ...Filter) Filter { return Or(append([]Filter{f}, others...)...) }

// And is a filter that matches records every one of fs matches. Zero
// filters are left out; And() is the zero Filter.
func And(fs ...Filter) Filter { return join(" && ", precAnd, fs) }

// Or is a filter that matches records any one of fs matches. Zero filters
// are left out (they do not make the result match everything); Or() is the
// zero Filter.
func Or(fs ...Filter) Filter { return join(" || ", precOr, fs) }

func join(op string, prec int, fs []Filter) Filter {
	var parts []string
	var only Filter
	for _, f := range fs {
		if f.err != nil {
			return f
		}
		if f.text == "" {
			continue
		}
		only = f
		parts = append(parts, wrap(f, prec))
	}
	if len(parts) <= 1 {
		return only
	}
	return Filter{text: strings.Join(parts, op), prec: prec}
}

// wrap returns f's text, in parentheses when its operator binds less tightly
// than prec.
func wrap(f Filter, prec int) string {
	if f.prec < prec {
		return "(" + f.text + ")"
	}
	return f.text
}

// Not is a filter that matches the records f does not match. Not of the zero
// Filter (which matches everything) carries an error rather than silently
// matching everything or nothing.
func Not(f Filter) Filter {
	if f.err != nil {
		return f
	}
	if f.text == "" {
		return Filter{err: invalidArgument("filter: Not of an empty filter")}
	}
	return Filter{text: "!" + wrap(f, precUnary), prec: precUnary}
}

// FieldExpr is a field of a record (or a path into a json field:
// "meta.source") that conditions are built on; get one with [Where].
type FieldExpr struct {
	path string
	err  error
}

// Where starts a condition on a field. name is a field name (letters, digits
// and underscores, not starting with a digit). Paths into json fields
// ("meta.source") are refused, as the platform refuses them in filters.
func Where(name string) FieldExpr {
	if name == "" {
		return FieldExpr{err: invalidArgument("filter: empty field name")}
	}
	if strings.Contains(name, ".") {
		return FieldExpr{err: invalidArgument("filter: %q: paths into json fields are not supported in filters; compare the field with null, or store the value in a field of its own", name)}
	}
	if !isIdent(name) {
		return FieldExpr{err: invalidArgument("filter: %q is not a field name: use letters, digits and underscores, not starting with a digit", name)}
	}
	if celReserved[name] {
		return FieldExpr{err: invalidArgument("filter: field name %q is a reserved word of the expression language; it cannot be named in a filter", name)}
	}
	return FieldExpr{path: name}
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// celReserved are CEL's keywords and reserved words, which cannot be
// identifiers.
var celReserved = map[string]bool{
	"true": true, "false": true, "null": true, "in": true,
	"as": true, "break": true, "const": true, "continue": true, "else": true,
	"for": true, "function": true, "if": true, "import": true, "let": true,
	"loop": true, "package": true, "namespace": true, "return": true,
	"var": true, "void": true, "while": true,
}

func (e FieldExpr) compare(op string, v any) Filter {
	if e.err != nil {
		return Filter{err: e.err}
	}
	lit, err := Literal(v)
	if err != nil {
		return Filter{err: invalidArgument("filter: %s %s: %v", e.path, strings.TrimSpace(op), err)}
	}
	return Filter{text: e.path + op + lit, prec: precRelation}
}

// Eq is field == v. v is a string, bool, number, time.Time, time.Duration,
// nil (null) or a slice of those; see [Literal].
func (e FieldExpr) Eq(v any) Filter { return e.compare(" == ", v) }

// Ne is field != v.
func (e FieldExpr) Ne(v any) Filter { return e.compare(" != ", v) }

// Gt is field > v.
func (e FieldExpr) Gt(v any) Filter { return e.compare(" > ", v) }

// Gte is field >= v.
func (e FieldExpr) Gte(v any) Filter { return e.compare(" >= ", v) }

// Lt is field < v.
func (e FieldExpr) Lt(v any) Filter { return e.compare(" < ", v) }

// Lte is field <= v.
func (e FieldExpr) Lte(v any) Filter { return e.compare(" <= ", v) }

// IsNull is field == null: the record has no value for the field.
func (e FieldExpr) IsNull() Filter { return e.compare(" == ", nil) }

// NotNull is field != null.
func (e FieldExpr) NotNull() Filter { return e.compare(" != ", nil) }

// In is field in [values…]: the field equals one of values. In with no
// values matches nothing.
func (e FieldExpr) In(values ...any) Filter {
	if e.err != nil {
		return Filter{err: e.err}
	}
	lit, err := Literal(values)
	if err != nil {
		return Filter{err: invalidArgument("filter: %s in: %v", e.path, err)}
	}
	return Filter{text: e.path + " in " + lit, prec: precRelation}
}

func (e FieldExpr) method(name, s string) Filter {
	if e.err != nil {
		return Filter{err: e.err}
	}
	lit, err := Literal(s)
	if err != nil {
		return Filter{err: invalidArgument("filter: %s.%s: %v", e.path, name, err)}
	}
	return Filter{text: e.path + "." + name + "(" + lit + ")", prec: precPrimary}
}

// StartsWith is field.startsWith(prefix), for text fields.
func (e FieldExpr) StartsWith(prefix string) Filter { return e.method("startsWith", prefix) }

// EndsWith is field.endsWith(suffix), for text fields.
func (e FieldExpr) EndsWith(suffix string) Filter { return e.method("endsWith", suffix) }

// Contains is field.contains(sub), for text fields.
func (e FieldExpr) Contains(sub string) Filter { return e.method("contains", sub) }

// Matches is field.matches(re): the text field matches the regular
// expression re (RE2 syntax) somewhere.
func (e FieldExpr) Matches(re string) Filter { return e.method("matches", re) }

// Literal writes v as a CEL literal:
//
//   - string: a double-quoted string; quotes, backslashes and control,
//     format and other unprintable characters are escaped (\n, \", \\,
//     \u2028, …); printable Unicode is kept. Invalid UTF-8 is refused.
//   - bool, nil (null), integers within ±(2^53−1) (written as int), floats
//     (written as double, always with a '.' or exponent; NaN and ±Inf are
//     refused).
//   - time.Time: timestamp("RFC 3339 in UTC"); time.Duration:
//     duration("1h2m3s").
//   - slices and arrays of those: [a, b, c]; pointers: what they point to.
//
// Named types are written as their underlying kind (a `type Status string`
// as a string). Anything else is an error.
func Literal(v any) (string, error) {
	var b strings.Builder
	if err := writeLiteral(&b, reflect.ValueOf(v), 0); err != nil {
		return "", err
	}
	return b.String(), nil
}

var (
	timeType     = reflect.TypeFor[time.Time]()
	durationType = reflect.TypeFor[time.Duration]()
)

func writeLiteral(b *strings.Builder, v reflect.Value, depth int) error {
	if depth > 32 {
		return errors.New("value nests too deeply")
	}
	if !v.IsValid() {
		b.WriteString("null")
		return nil
	}
	switch v.Type() {
	case timeType:
		t := v.Interface().(time.Time)
		b.WriteString(`timestamp("` + t.UTC().Format(time.RFC3339Nano) + `")`)
		return nil
	case durationType:
		b.WriteString(`duration("` + time.Duration(v.Int()).String() + `")`)
		return nil
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			b.WriteString("null")
			return nil
		}
		return writeLiteral(b, v.Elem(), depth+1)
	case reflect.String:
		return quoteCEL(b, v.String())
	case reflect.Bool:
		b.WriteString(strconv.FormatBool(v.Bool()))
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i := v.Int()
		if i > MaxSafeInteger || i < -MaxSafeInteger {
			return fmt.Errorf("integer %d is beyond ±(2^53−1), the largest a record holds", i)
		}
		b.WriteString(strconv.FormatInt(i, 10))
		return nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := v.Uint()
		if u > MaxSafeInteger {
			return fmt.Errorf("integer %d is beyond ±(2^53−1), the largest a record holds", u)
		}
		b.WriteString(strconv.FormatUint(u, 10))
		return nil
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("number %v has no literal", f)
		}
		bits := 64
		if v.Kind() == reflect.Float32 {
			bits = 32
		}
		s := strconv.FormatFloat(f, 'g', -1, bits)
		if !strings.ContainsAny(s, ".eE") {
			s += ".0"
		}
		b.WriteString(s)
		return nil
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
			return errors.New("bytes have no literal in filters")
		}
		b.WriteByte('[')
		for i := range v.Len() {
			if i > 0 {
				b.WriteString(", ")
			}
			if err := writeLiteral(b, v.Index(i), depth+1); err != nil {
				return err
			}
		}
		b.WriteByte(']')
		return nil
	default:
		return fmt.Errorf("a %s has no literal in filters", v.Type())
	}
}

// quoteCEL writes s as a double-quoted CEL string literal.
func quoteCEL(b *strings.Builder, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("string %q is not valid UTF-8", s)
	}
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\a':
			b.WriteString(`\a`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\v':
			b.WriteString(`\v`)
		default:
			switch {
			case strconv.IsPrint(r):
				b.WriteRune(r)
			case r <= 0xFFFF:
				fmt.Fprintf(b, `\u%04x`, r)
			default:
				fmt.Fprintf(b, `\U%08x`, r)
			}
		}
	}
	b.WriteByte('"')
	return nil
}

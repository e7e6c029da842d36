package filter

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"github.com/jackc/pgx/v5"

	"github.com/sovereign-backend/sovereign/dataplane/schema"
)

// Limits on a filter. They bound the work of parsing, checking and
// compiling one, and the size of the SQL it becomes.
const (
	// MaxLen is the longest filter text accepted, in bytes.
	MaxLen = 4096
	// MaxNodes is the most expression nodes a filter may have: every field
	// reference, literal, operator, function call and list element counts.
	MaxNodes = 256
	// MaxDepth is the deepest nesting of expression nodes (a && b is depth
	// 2; !!!a is depth 4). Parentheses do not count.
	MaxDepth = 32
	// MaxPatternLen is the longest pattern accepted by matches, in bytes.
	MaxPatternLen = 256
)

// Error is a filter that cannot be compiled: malformed, ill-typed, beyond a
// limit or using what filters do not support. It is InvalidArgument
// material: its text is meant for the person who wrote the filter.
type Error struct {
	// Offset is the byte offset in the filter text of the part at fault
	// (0-based); Line (1-based) and Column (1-based, in characters) say the
	// same for people. Line is 0 when the error concerns the whole filter
	// (too long, too many nodes).
	Offset, Line, Column int
	// Field is the field at fault, "" when there is none.
	Field string
	// Message says what is wrong; when Field is set it starts with the
	// field's name ("n: cannot compare integer with string").
	Message string
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return "filter: " + e.Message
	}
	return fmt.Sprintf("filter: line %d, column %d: %s", e.Line, e.Column, e.Message)
}

// kind is what a column or a value holds, as the filter sees it.
type kind int

const (
	kNull kind = iota
	kText
	kInt
	kDouble
	kBool
	kTime
	kUUID
	kJSON
	kVector
	kDuration // literals only
	kList     // literals only
)

// sqlType is the PostgreSQL type that an argument of a kind is cast to.
var sqlType = map[kind]string{
	kText:   "text",
	kInt:    "bigint",
	kDouble: "float8",
	kBool:   "boolean",
	kTime:   "timestamptz",
	kUUID:   "uuid",
}

// kindName names a literal's kind in messages.
var kindName = map[kind]string{
	kNull:     "null",
	kText:     "string",
	kInt:      "integer",
	kDouble:   "double",
	kBool:     "boolean",
	kTime:     "timestamp",
	kUUID:     "uuid",
	kJSON:     "json",
	kVector:   "vector",
	kDuration: "duration",
	kList:     "list",
}

// column is a field that filters can name, or in rules a value of the
// request (auth.uid, request.time, …), which the tree treats like a column
// that SQL reads from parameters or settings instead of the row.
type column struct {
	name     string
	quoted   string // pgx.Identifier{name}.Sanitize()
	kind     kind
	typeName string // the schema's name for its type, for messages
	// param is set for a request value: one of the param* constants.
	param string
	// claim is the claim's name for paramClaim.
	claim string
}

// Env is a collection's filter environment: its fields as CEL declarations.
// It is safe for concurrent use.
type Env struct {
	cel     *cel.Env
	columns map[string]*column
	// rule is set for a rule environment (NewRuleEnv).
	rule bool
}

// NewEnv declares each field of c, and the system fields, as a top-level
// CEL variable of its type. Fields whose names are CEL reserved words cannot
// be named in filters and are left out.
func NewEnv(c *schema.Collection) (*Env, error) { return newEnv(c, false) }

func newEnv(c *schema.Collection, rule bool) (*Env, error) {
	e := &Env{columns: map[string]*column{}, rule: rule}
	add := func(name string, k kind, typeName string) error {
		if _, dup := e.columns[name]; dup {
			return fmt.Errorf("filter: collection %q: field %q declared twice", c.Name, name)
		}
		e.columns[name] = &column{name: name, quoted: pgx.Identifier{name}.Sanitize(), kind: k, typeName: typeName}
		return nil
	}
	sys := []struct {
		name string
		k    kind
		t    string
	}{
		{schema.FieldID, kUUID, "id"},
		{schema.FieldCreatedAt, kTime, "timestamp"},
		{schema.FieldUpdatedAt, kTime, "timestamp"},
		{schema.FieldVersion, kInt, "integer"},
	}
	for _, s := range sys {
		if err := add(s.name, s.k, s.t); err != nil {
			return nil, err
		}
	}
	for _, f := range c.Fields {
		var k kind
		switch f.Type {
		case schema.Text, schema.File:
			k = kText
		case schema.Integer:
			k = kInt
		case schema.Number:
			k = kDouble
		case schema.Boolean:
			k = kBool
		case schema.Timestamp:
			k = kTime
		case schema.JSON:
			k = kJSON
		case schema.Relation:
			k = kUUID
		case schema.Vector:
			k = kVector
		default:
			return nil, fmt.Errorf("filter: collection %q: field %q has unknown type %q", c.Name, f.Name, f.Type)
		}
		if err := add(f.Name, k, string(f.Type)); err != nil {
			return nil, err
		}
	}
	opts := []cel.EnvOption{
		cel.ClearMacros(),
		cel.CrossTypeNumericComparisons(true),
		cel.ParserExpressionSizeLimit(MaxLen),
	}
	for name, col := range e.columns {
		if reserved[name] {
			delete(e.columns, name)
			continue
		}
		opts = append(opts, cel.Variable(name, celType(col.kind)))
	}
	if rule {
		// Request values have dotted names, which no field can have.
		for _, p := range params {
			e.columns[p.name] = &column{name: p.name, kind: p.kind, typeName: kindName[p.kind], param: p.param}
			opts = append(opts, cel.Variable(p.name, celType(p.kind)))
		}
	}
	env, err := cel.NewEnv(opts...)
	if err != nil {
		return nil, fmt.Errorf("filter: collection %q: %w", c.Name, err)
	}
	e.cel = env
	return e, nil
}

// reserved are CEL's reserved words and literals: no variable can have these
// names.
var reserved = map[string]bool{
	"as": true, "break": true, "const": true, "continue": true, "else": true,
	"false": true, "for": true, "function": true, "if": true, "import": true,
	"in": true, "let": true, "loop": true, "package": true, "namespace": true,
	"null": true, "return": true, "true": true, "var": true, "void": true, "while": true,
}

// celType is the CEL type a column is declared with. Scalars are nullable
// so that x == null type-checks; timestamps are nullable in CEL already.
func celType(k kind) *types.Type {
	switch k {
	case kText, kUUID:
		return types.NewNullableType(types.StringType)
	case kInt:
		return types.NewNullableType(types.IntType)
	case kDouble:
		return types.NewNullableType(types.DoubleType)
	case kBool:
		return types.NewNullableType(types.BoolType)
	case kTime:
		return types.TimestampType
	case kVector:
		return types.NewListType(types.DoubleType)
	default: // kJSON
		return types.DynType
	}
}

// Compiled is a filter compiled to SQL.
type Compiled struct {
	// SQL is a boolean expression over the table's column names, quoted and
	// unqualified, with placeholders $argBase+1, $argBase+2, …; a NULL result
	// means false. It binds at least as tightly as AND.
	SQL string
	// Args are the placeholders' values, in order: int64, float64, string,
	// bool or time.Time.
	Args []any
}

// Compile compiles expr to SQL whose placeholders start at $argBase+1, so
// that it can be placed after argBase other arguments of the same
// statement. Bad filters give an *Error.
func (e *Env) Compile(expr string, argBase int) (Compiled, error) {
	if e.rule {
		return Compiled{}, errRuleEnv
	}
	root, err := e.build(expr)
	if err != nil {
		return Compiled{}, err
	}
	w := sqlWriter{base: argBase}
	w.expr(root)
	return Compiled{SQL: w.b.String(), Args: w.args}, nil
}

var errRuleEnv = errors.New("filter: a rule environment compiles rules (Env.Rule), not filters")

// Program is a compiled filter that evaluates in Go. It is safe for
// concurrent use.
type Program struct {
	root expr
}

// Program compiles expr for evaluation in Go. Bad filters give an *Error,
// the same one Compile gives.
func (e *Env) Program(expr string) (*Program, error) {
	if e.rule {
		return nil, errRuleEnv
	}
	root, err := e.build(expr)
	if err != nil {
		return nil, err
	}
	return &Program{root: root}, nil
}

// Eval reports whether record passes the filter, with the same answer the
// compiled SQL gives for the same row. record holds a record the way the
// records package does: text, file, relation and id as string, integer and
// version as int64, number as float64, boolean as bool, timestamps as
// time.Time, json as decoded JSON, nil (or no key) for null. The error is
// for a record that holds a value of another Go type for a field the filter
// reads.
func (p *Program) Eval(record map[string]any) (bool, error) {
	return eval(p.root, record)
}

// position turns CEL's location (1-based line, 0-based column in code
// points) into an Error's fields.
func position(src string, line, col int) (offset, column int) {
	off := 0
	for l := 1; l < line; l++ {
		i := strings.IndexByte(src[off:], '\n')
		if i < 0 {
			break
		}
		off += i + 1
	}
	for c := 0; c < col && off < len(src); c++ {
		_, n := utf8.DecodeRuneInString(src[off:])
		off += n
	}
	return off, col + 1
}

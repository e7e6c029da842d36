package filter

import (
	"fmt"
	"strings"

	"cel.dev/cel-go/common/ast"

	"github.com/sovereign-backend/sovereign/dataplane/schema"
)

// ObjectFields are the fields a storage rule reads as object.<field>, with
// the column types of the storage service's objects table: name (text),
// folder (text: the name's first segment when the name has a "/", else
// ""; the rule language compares strings but does not concatenate them,
// so "users write only under their own folder" is object.folder ==
// auth.uid), size (bigint), content_type (text) and metadata (jsonb, a
// JSON object of strings), besides the system fields id, created_at,
// updated_at and version.
var ObjectFields = []schema.Field{
	{Name: "name", Type: schema.Text},
	{Name: "folder", Type: schema.Text},
	{Name: "size", Type: schema.Integer},
	{Name: "content_type", Type: schema.Text},
	{Name: "metadata", Type: schema.JSON},
}

// ObjectEnv is the environment of a storage bucket's rules: the rule
// language of NewRuleEnv, where the value the rule is about is named
// object (object.name, object.size, object.content_type,
// object.metadata) instead of record. It is safe for concurrent use.
type ObjectEnv struct{ a aliasEnv }

// NewObjectRuleEnv returns the environment of storage rules.
func NewObjectRuleEnv() (*ObjectEnv, error) {
	a, err := newAliasEnv("object", ObjectFields,
		"storage rules read object.name, object.folder, object.size, object.content_type and object.metadata")
	if err != nil {
		return nil, err
	}
	return &ObjectEnv{a: a}, nil
}

// Rule compiles src as the object rule for method (one of Methods). The
// rule is compiled by the record rule compiler: every identifier "object"
// is renamed "record" (a name of the same length, so error positions stay
// right) and "record" itself is refused; error messages speak of object.
func (o *ObjectEnv) Rule(src, method string) (*Rule, error) { return o.a.rule(src, method) }

// aliasEnv compiles rules about a value named alias (object, channel)
// with the record rule compiler: alias is renamed "record", padded with
// spaces to alias's length (CEL allows "record .name"), so error positions
// stay right; "record" itself is refused, and error messages speak of
// alias.
type aliasEnv struct {
	env     *Env
	alias   string
	to      string // "record" padded to len(alias)
	wording *strings.Replacer
	reads   string // what the rules read, for the refusal of "record"
}

func newAliasEnv(alias string, fields []schema.Field, reads string) (aliasEnv, error) {
	if len(alias) < len("record") {
		return aliasEnv{}, fmt.Errorf("filter: alias %q is shorter than record", alias)
	}
	e, err := newEnv(&schema.Collection{Name: alias, Fields: fields}, true)
	if err != nil {
		return aliasEnv{}, err
	}
	return aliasEnv{env: e, alias: alias, to: "record" + strings.Repeat(" ", len(alias)-len("record")), reads: reads,
		wording: strings.NewReplacer("record.", alias+".", "record", alias)}, nil
}

func (a aliasEnv) rule(src, method string) (*Rule, error) {
	renamed, err := a.rename(src)
	if err != nil {
		return nil, err
	}
	r, err := a.env.Rule(renamed, method)
	if fe, ok := err.(*Error); ok {
		fe.Message = a.wording.Replace(fe.Message)
		return nil, fe
	}
	return r, err
}

// rename swaps the identifier alias for record in src and refuses record.
// A source that does not parse is returned as it is, for the compiler to
// report.
func (a aliasEnv) rename(src string) (string, error) {
	if len(src) > MaxLen {
		return src, nil
	}
	parsed, iss := a.env.cel.Parse(src)
	if iss.Err() != nil {
		return src, nil
	}
	native := parsed.NativeRep()
	info := native.SourceInfo()
	b := []byte(src)
	var bad *Error
	ast.PostOrderVisit(native.Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		if e.Kind() != ast.IdentKind || bad != nil {
			return
		}
		name := e.AsIdent()
		if name != a.alias && name != "record" {
			return
		}
		r, ok := info.GetOffsetRange(e.ID())
		if !ok {
			return
		}
		off := byteOffset(src, int(r.Start))
		if off < 0 || off+len(name) > len(src) || src[off:off+len(name)] != name {
			return
		}
		if name == "record" {
			bad = a.env.errAtLocation(src, info.GetStartLocation(e.ID()).Line(), info.GetStartLocation(e.ID()).Column(), "",
				"unknown name \"record\"; "+a.reads)
			return
		}
		copy(b[off:], a.to)
	}))
	if bad != nil {
		return "", bad
	}
	return string(b), nil
}

// byteOffset is the byte offset of the n-th code point of s, or -1.
func byteOffset(s string, n int) int {
	if n < 0 {
		return -1
	}
	i := 0
	for off := range s {
		if i == n {
			return off
		}
		i++
	}
	if i == n {
		return len(s)
	}
	return -1
}

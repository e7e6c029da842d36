package filter

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"cel.dev/cel-go/common/ast"

	"github.com/sovereign-backend/sovereign/dataplane/schema"
)

// The methods a rule is written for; request.method holds the method of
// the rule being evaluated.
const (
	MethodList   = "list"
	MethodView   = "view"
	MethodCreate = "create"
	MethodUpdate = "update"
	MethodDelete = "delete"
)

// Methods are the rule methods in their usual order.
var Methods = []string{MethodList, MethodView, MethodCreate, MethodUpdate, MethodDelete}

// The request values a rule can read.
const (
	paramUID    = "uid"
	paramRole   = "role"
	paramAAL    = "aal"
	paramClaim  = "claim"
	paramMethod = "method"
	paramTime   = "time"
)

// params are the request values with fixed names; claims are named by the
// rule (auth.claims.<name>).
var params = []struct {
	name, param string
	kind        kind
}{
	{"auth.uid", paramUID, kText},
	{"auth.role", paramRole, kText},
	{"auth.aal", paramAAL, kText},
	{"request.method", paramMethod, kText},
	{"request.time", paramTime, kTime},
	// Every claim is declared to CEL under this one name; the translator
	// knows which claim each node names.
	{claimsName, paramClaim, kText},
}

const claimsName = "auth.claims"

// settings are the sovereign.* settings (package tenantdb sets them for
// every transaction) that policies read for the request values.
var settings = map[string]string{
	paramUID:  "sovereign.uid",
	paramRole: "sovereign.auth_role",
	paramAAL:  "sovereign.aal",
}

// NewRuleEnv is the environment of c's access rules: the filter language
// with every name qualified, record.<field> for the record's fields (the
// system fields included), auth.uid, auth.role and auth.aal (strings, ""
// when there is none: auth.uid is "" for an anonymous caller),
// auth.claims.<name> (the access token's claim of that name when it is a
// JSON string, else null), request.method (the rule's method: "list",
// "view", "create", "update" or "delete") and request.time (a timestamp,
// the time of the request). Bare field names are refused, so that a rule
// says what it reads.
//
// A rule compiles from one tree three ways: to SQL with placeholders for
// the request values (Rule.SQL), to SQL without placeholders for a
// row-level-security policy (Rule.Policy), which reads them from the
// sovereign.* settings, and to a Go evaluator (Rule.Eval). The three agree.
func NewRuleEnv(c *schema.Collection) (*Env, error) { return newEnv(c, true) }

// Auth is what a rule's auth.* and request.time read.
type Auth struct {
	// UID is the signed-in user's id, "" for none.
	UID string
	// Role is auth.role: "service", "anon" or the user's role.
	Role string
	// AAL is "aal1", "aal2" or "".
	AAL string
	// Claims is the access token's claims, decoded from JSON; only string
	// values can be read (auth.claims.<name> is null for the others).
	Claims map[string]any
	// Time is request.time.
	Time time.Time
}

// Rule is a compiled access rule. It is safe for concurrent use.
type Rule struct {
	root   expr
	method string
	fields []string
	claims []*column
}

// Rule compiles src as the rule for method (one of Methods). Bad rules give
// an *Error, as bad filters do.
func (e *Env) Rule(src, method string) (*Rule, error) {
	if !e.rule {
		return nil, errors.New("filter: rules compile in a rule environment (NewRuleEnv)")
	}
	if !slices.Contains(Methods, method) {
		return nil, fmt.Errorf("filter: unknown rule method %q", method)
	}
	root, t, err := e.translate(src)
	if err != nil {
		return nil, err
	}
	slices.Sort(t.fields)
	return &Rule{root: root, method: method, fields: slices.Compact(t.fields), claims: t.claims}, nil
}

// Fields are the record fields the rule reads, sorted.
func (r *Rule) Fields() []string { return slices.Clone(r.fields) }

// SQL is the rule as a condition for a statement on the collection's table
// (its columns unqualified), the request values in a as arguments from
// $argBase+1 on.
func (r *Rule) SQL(argBase int, a Auth) Compiled {
	w := sqlWriter{base: argBase, auth: &a, method: r.method}
	w.expr(r.root)
	return Compiled{SQL: w.b.String(), Args: w.args}
}

// Policy is the rule as the condition of a row-level-security policy: no
// placeholders, literals rendered by a strict renderer, request values read
// from the sovereign.* settings, request.time as now().
func (r *Rule) Policy() (string, error) {
	w := sqlWriter{method: r.method, policy: true}
	w.expr(r.root)
	if w.err != nil {
		return "", w.err
	}
	return w.b.String(), nil
}

// Eval reports whether the rule allows record (held as Program.Eval takes
// it) for the request a: the answer Rule.SQL and Rule.Policy give for the
// same row and request.
func (r *Rule) Eval(record map[string]any, a Auth) (bool, error) {
	rec := make(map[string]any, len(record)+len(params)+len(r.claims))
	maps.Copy(rec, record)
	for _, p := range params {
		switch p.param {
		case paramTime:
			rec[p.name] = a.Time
		case paramClaim:
		default:
			rec[p.name] = paramValue(&column{param: p.param}, &a, r.method)
		}
	}
	for _, c := range r.claims {
		rec[c.name] = paramValue(c, &a, r.method)
	}
	return eval(r.root, rec)
}

// paramValue is a text request value: a string, or nil for a missing or
// non-string claim.
func paramValue(c *column, a *Auth, method string) any {
	switch c.param {
	case paramUID:
		return a.UID
	case paramRole:
		return a.Role
	case paramAAL:
		return a.AAL
	case paramMethod:
		return method
	case paramClaim:
		if s, ok := a.Claims[c.claim].(string); ok {
			return s
		}
	}
	return nil
}

// claimsSQL is the caller's claims as jsonb; an unset setting is {}.
const claimsSQL = "(coalesce(nullif(current_setting('sovereign.claims', true), ''), '{}')::jsonb)"

// policyParam is a request value in a policy.
func policyParam(c *column, method string) string {
	switch c.param {
	case paramTime:
		return "now()"
	case paramMethod:
		return quoteLiteral(method) + "::text"
	case paramClaim:
		// Only string claims are visible, as in Eval: ->> would turn the
		// number 1.0 into the text '1.0', which Go cannot reproduce from
		// the decoded claims.
		name := quoteLiteral(c.claim) + "::text"
		return "(CASE WHEN jsonb_typeof(" + claimsSQL + " -> " + name + ") = 'string' THEN " + claimsSQL + " ->> " + name + " END)"
	}
	return "coalesce(current_setting('" + settings[c.param] + "', true), '')"
}

// literal renders a value as an SQL constant of type typ, for policies.
// Numbers go through strconv; strings are quoted by quoteLiteral; NUL,
// which PostgreSQL text cannot hold, and invalid UTF-8 are refused.
func literal(v any, typ string) (string, error) {
	switch v := v.(type) {
	case int64:
		return "'" + strconv.FormatInt(v, 10) + "'::bigint", nil
	case float64:
		return "'" + strconv.FormatFloat(v, 'g', -1, 64) + "'::float8", nil
	case bool:
		if v {
			return "TRUE", nil
		}
		return "FALSE", nil
	case time.Time:
		return "'" + v.UTC().Format(time.RFC3339Nano) + "'::timestamptz", nil
	case string:
		if strings.IndexByte(v, 0) >= 0 || !utf8.ValidString(v) {
			return "", errors.New("filter: a string holds NUL or is not UTF-8")
		}
		switch typ {
		case "text", "uuid":
			return quoteLiteral(v) + "::" + typ, nil
		}
	}
	return "", fmt.Errorf("filter: cannot render %T as %s", v, typ)
}

// quoteLiteral renders s as a string constant that means s whatever
// standard_conforming_strings says: quotes doubled and, when s holds a
// backslash, the E'…' form with backslashes doubled.
func quoteLiteral(s string) string {
	q := "'" + strings.ReplaceAll(s, "'", "''") + "'"
	if strings.Contains(s, `\`) {
		q = "E" + strings.ReplaceAll(q, `\`, `\\`)
	}
	return q
}

// bareName refuses an unqualified name in a rule.
func (t *translator) bareName(e ast.Expr) error {
	name := e.AsIdent()
	if col, ok := t.env.columns[name]; ok && col.param == "" {
		le := t.errAt(e.ID(), "", "unknown name %q; a field of the record is record.%s", name, name)
		le.Field = name
		return le
	}
	switch name {
	case "record", "auth", "request":
		return t.errAt(e.ID(), "", "%s is not a value; name one of its parts, like %s", name, example[name])
	}
	return t.errAt(e.ID(), "", "unknown name %q; rules read record.<field>, auth.uid, auth.role, auth.aal, auth.claims.<name>, request.method and request.time", name)
}

var example = map[string]string{"record": "record.<field>", "auth": "auth.uid", "request": "request.time"}

// qualified resolves record.<field>, auth.* and request.* and rewrites the
// node into an identifier the CEL environment declares.
func (t *translator) qualified(e ast.Expr) error {
	var path []string
	var ids []int64
	n := e
	for n.Kind() == ast.SelectKind {
		path = append([]string{n.AsSelect().FieldName()}, path...)
		ids = append([]int64{n.ID()}, ids...)
		n = n.AsSelect().Operand()
	}
	if n.Kind() != ast.IdentKind {
		return t.errAt(e.ID(), "", "field selection (.%s) is not supported in rules", e.AsSelect().FieldName())
	}
	path = append([]string{n.AsIdent()}, path...)
	ids = append([]int64{n.ID()}, ids...)
	// at is the position of the i-th name of the path: just after its dot.
	at := func(i int, field, format string, args ...any) *Error {
		le := t.errAt(ids[i], "", format, args...)
		if i > 0 {
			le = t.env.errAtLocation(t.src, t.info.GetStartLocation(ids[i]).Line(), t.info.GetStartLocation(ids[i]).Column()+1, "", le.Message)
		}
		le.Field = field
		return le
	}
	full := strings.Join(path, ".")
	rewrite := func(name string) {
		// The first dot's position less the first name's length: CEL
		// keeps no position for the name itself.
		dot := t.info.GetStartLocation(ids[1])
		if col := dot.Column() - utf8.RuneCountInString(path[0]); dot.Line() >= 1 && col >= 0 {
			if t.starts == nil {
				t.starts = map[int64][2]int{}
			}
			t.starts[e.ID()] = [2]int{dot.Line(), col}
		}
		e.SetKindCase(t.fac.NewIdent(e.ID(), name))
	}
	switch path[0] {
	case "record":
		col, ok := t.env.columns[path[1]]
		if !ok || col.param != "" {
			return at(1, path[1], "unknown field %q", path[1])
		}
		if len(path) > 2 {
			return at(2, col.name, "%s: nested paths (%s) are not supported in rules", col.name, full)
		}
		if col.kind == kVector {
			return at(1, col.name, "%s: vector fields cannot be used in rules", col.name)
		}
		t.fields = append(t.fields, col.name)
		rewrite(col.name)
		return nil
	case "auth":
		switch {
		case len(path) == 2 && (path[1] == "uid" || path[1] == "role" || path[1] == "aal"):
			rewrite(full)
			return nil
		case len(path) == 3 && path[1] == "claims":
			col := &column{name: full, kind: kText, typeName: "string", param: paramClaim, claim: path[2]}
			if t.extra == nil {
				t.extra = map[int64]*column{}
			}
			t.extra[e.ID()] = col
			t.claims = append(t.claims, col)
			rewrite(claimsName)
			return nil
		case len(path) == 2 && path[1] == "claims":
			return at(1, "", "auth.claims holds the claims; compare one of them: auth.claims.<name>")
		}
		return at(min(len(path)-1, 2), "", "unknown name %s; auth has uid, role, aal and claims.<name>", full)
	case "request":
		if len(path) == 2 && (path[1] == "method" || path[1] == "time") {
			rewrite(full)
			return nil
		}
		return at(1, "", "unknown name %s; request has method and time", full)
	}
	return t.errAt(n.ID(), "", "unknown name %q; rules read record.<field>, auth.uid, auth.role, auth.aal, auth.claims.<name>, request.method and request.time", path[0])
}

package filter_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sovereign-backend/sovereign/dataplane/filter"
	"github.com/sovereign-backend/sovereign/internal/testenv"
)

func newRuleEnv(t testing.TB) *filter.Env {
	t.Helper()
	env, err := filter.NewRuleEnv(posts)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func TestRuleErrors(t *testing.T) {
	t.Parallel()
	env := newRuleEnv(t)
	for _, tc := range []struct {
		rule  string
		want  string // Error() of the *filter.Error
		field string
	}{
		{`record.ownr == auth.uid`, `filter: line 1, column 8: unknown field "ownr"`, "ownr"},
		{`title == "x"`, `filter: line 1, column 1: unknown name "title"; a field of the record is record.title`, "title"},
		{`record.n == "x"`, `filter: line 1, column 1: n: cannot compare integer with string`, "n"},
		{`auth.uid == 5`, `filter: line 1, column 1: auth.uid: cannot compare string with integer`, "auth.uid"},
		{`auth.claims.plan == 1`, `cannot compare string with integer`, "auth.claims.plan"},
		{`auth.claims == "x"`, `filter: line 1, column 6: auth.claims holds the claims; compare one of them: auth.claims.<name>`, ""},
		{`auth.name == "x"`, `filter: line 1, column 6: unknown name auth.name; auth has uid, role, aal and claims.<name>`, ""},
		{`request.user == "x"`, `unknown name request.user; request has method and time`, ""},
		{`record == "x"`, `record is not a value`, ""},
		{`user.id == "x"`, `unknown name "user"`, ""},
		{`record.meta.k == 1`, `nested paths (record.meta.k) are not supported in rules`, "meta"},
		{`record.emb == null`, `vector fields cannot be used in rules`, "emb"},
		{`record.n + 1 == 2`, `arithmetic is not supported in rules`, ""},
		{`record.title`, `a text field is not a condition`, "title"},
		{``, `the rule is empty`, ""},
		{`auth.uid ==`, `syntax error`, ""},
	} {
		_, err := env.Rule(tc.rule, filter.MethodView)
		fe, ok := errors.AsType[*filter.Error](err)
		if !ok {
			t.Errorf("%q: error %v is not a *filter.Error", tc.rule, err)
			continue
		}
		if !strings.Contains(fe.Error(), tc.want) {
			t.Errorf("%q: error %q, want %q", tc.rule, fe.Error(), tc.want)
		}
		if fe.Field != tc.field {
			t.Errorf("%q: field %q, want %q", tc.rule, fe.Field, tc.field)
		}
	}
	// A rule environment compiles rules only, a filter environment filters.
	if _, err := env.Compile(`true`, 0); err == nil {
		t.Error("a rule environment compiled a filter")
	}
	if _, err := newEnv(t).Rule(`true`, filter.MethodView); err == nil {
		t.Error("a filter environment compiled a rule")
	}
	if _, err := env.Rule(`true`, "read"); err == nil {
		t.Error("unknown method accepted")
	}
}

func TestRuleSQL(t *testing.T) {
	t.Parallel()
	env := newRuleEnv(t)
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	a := filter.Auth{UID: "u1", Role: "editor", AAL: "aal2", Claims: map[string]any{"org": "acme", "n": 5.0}, Time: now}
	for _, tc := range []struct {
		rule, method string
		sql          string
		args         []any
		policy       string
		fields       []string
	}{
		{rule: `record.title == auth.uid`, method: "view",
			sql: `"title" = $3::text`, args: []any{"u1"},
			policy: `"title" = coalesce(current_setting('sovereign.uid', true), '')`, fields: []string{"title"}},
		{rule: `record.author == auth.uid && auth.aal == 'aal2'`, method: "update",
			sql: `("author"::text = $3::text AND $4::text = $5::text)`, args: []any{"u1", "aal2", "aal2"},
			policy: `("author"::text = coalesce(current_setting('sovereign.uid', true), '') AND coalesce(current_setting('sovereign.aal', true), '') = 'aal2'::text)`,
			fields: []string{"author"}},
		{rule: `auth.claims.org == record.body || auth.claims.n == null`, method: "list",
			sql: `($3::text = "body" OR ($4::text) IS NULL)`, args: []any{"acme", nil},
			policy: `((CASE WHEN jsonb_typeof((coalesce(nullif(current_setting('sovereign.claims', true), ''), '{}')::jsonb) -> 'org'::text) = 'string' THEN (coalesce(nullif(current_setting('sovereign.claims', true), ''), '{}')::jsonb) ->> 'org'::text END) = "body" OR ` +
				`((CASE WHEN jsonb_typeof((coalesce(nullif(current_setting('sovereign.claims', true), ''), '{}')::jsonb) -> 'n'::text) = 'string' THEN (coalesce(nullif(current_setting('sovereign.claims', true), ''), '{}')::jsonb) ->> 'n'::text END)) IS NULL)`,
			fields: []string{"body"}},
		{rule: `record.due < request.time && request.method == "delete" && record.title == "it's \\ here"`, method: "delete",
			sql: `(("due" < $3::timestamptz AND $4::text = $5::text) AND "title" = $6::text)`, args: []any{now, "delete", "delete", `it's \ here`},
			policy: `(("due" < now() AND 'delete'::text = 'delete'::text) AND "title" = E'it''s \\ here'::text)`, fields: []string{"due", "title"}},
		{rule: `record.n >= -9223372036854775808 || record.price > 2.5`, method: "list",
			policy: `("n" >= '-9223372036854775808'::bigint OR "price" > '2.5'::float8)`, fields: []string{"n", "price"}},
	} {
		r, err := env.Rule(tc.rule, tc.method)
		if err != nil {
			t.Errorf("%s: %v", tc.rule, err)
			continue
		}
		if tc.sql != "" {
			c := r.SQL(2, a)
			if c.SQL != tc.sql || fmt.Sprint(c.Args) != fmt.Sprint(tc.args) {
				t.Errorf("%s: SQL %s %v, want %s %v", tc.rule, c.SQL, c.Args, tc.sql, tc.args)
			}
		}
		p, err := r.Policy()
		if err != nil || p != tc.policy {
			t.Errorf("%s: policy %s (%v), want %s", tc.rule, p, err, tc.policy)
		}
		if !slices.Equal(r.Fields(), tc.fields) {
			t.Errorf("%s: fields %v, want %v", tc.rule, r.Fields(), tc.fields)
		}
	}
}

// policyToken is one token of a policy: what the policy writer may write.
// A plain string constant holds no backslash; an E'…' one only doubled
// ones; in both, quotes come doubled.
var policyToken = regexp.MustCompile(`^(?:\s+|"(?:[^"]|"")*"|E'(?:[^'\\]|''|\\\\)*'|'(?:[^'\\]|'')*'|::(?:bigint|float8|text|boolean|timestamptz|uuid|jsonb)|[A-Za-z_]+|->>|->|<=|>=|<>|[=<>~(),])`)

var policyWords = map[string]bool{
	"AND": true, "OR": true, "IS": true, "NOT": true, "NULL": true, "TRUE": true, "FALSE": true,
	"IN": true, "LIKE": true, "CASE": true, "WHEN": true, "THEN": true, "END": true, "true": true,
	"char_length": true, "jsonb_typeof": true, "coalesce": true, "nullif": true, "current_setting": true, "now": true,
}

// checkPolicy tokenises a policy against the whitelist: quoted column
// names, string constants that are closed where the writer meant them to
// be, casts, keywords and operators. Text from a rule that escaped its
// quotes would leave a token the whitelist does not know; so would a
// placeholder.
func checkPolicy(t *testing.T, policy string, columns map[string]bool) {
	t.Helper()
	for rest := policy; rest != ""; {
		tok := policyToken.FindString(rest)
		if tok == "" {
			t.Fatalf("policy %s: unexpected text at %q", policy, rest)
		}
		rest = rest[len(tok):]
		switch {
		case tok[0] == '"':
			if !columns[tok] {
				t.Fatalf("policy %s: %s is not a column", policy, tok)
			}
		case tok[0] == '\'' || tok[0] == 'E' && len(tok) > 1 && tok[1] == '\'':
			if strings.ContainsRune(tok, 0) {
				t.Fatalf("policy %s: NUL in a constant", policy)
			}
		case isLetter(tok[0]):
			if !policyWords[tok] {
				t.Fatalf("policy %s: word %q is not one the writer writes", policy, tok)
			}
		}
	}
}

// FuzzRulePolicy feeds the rule compiler arbitrary text. A rule that
// compiles must give a policy made only of whitelisted tokens (no value
// from the rule escapes its quotes, no placeholder), SQL that passes the
// filter whitelist, and an Eval that works.
func FuzzRulePolicy(f *testing.F) {
	env := newRuleEnv(f)
	allowed := quotedColumns()
	for _, s := range []string{
		`record.title == auth.uid`, `auth.claims.o'rg == "x"`, `record.title == "it's"`, `record.title == 'a\\'' || record.body == "\\\\"`,
		`record.title == "'; DROP TABLE posts; --"`, `auth.claims.x.startsWith("%_\\")`, `record.title.matches("(?i)it's")`,
		`record.due > request.time - duration("1h")`, `request.method in ["list", "view"]`, `auth.role == "admin" && auth.aal == "aal2"`,
		`record.author == auth.uid`, `"E'" == record.title`, `record.title == "\u0000"`, `record.title == "\xff"`,
	} {
		f.Add(s)
	}
	rec := map[string]any{"id": "0190a0b1-c2d3-7e4f-8a5b-6c7d8e9fa0b1", "title": "it's", "author": "0190a0b1-c2d3-7e4f-8a5b-6c7d8e9fa0b1",
		"due": time.Now(), "n": int64(3), "price": 2.5, "done": true}
	a := filter.Auth{UID: "u'1", Role: "admin", AAL: "aal2", Claims: map[string]any{"x": `a\'b`, "org": 1.0}, Time: time.Now()}
	f.Fuzz(func(t *testing.T, src string) {
		r, err := env.Rule(src, filter.MethodView)
		if err != nil {
			if _, ok := errors.AsType[*filter.Error](err); !ok {
				t.Fatalf("%T is not a *filter.Error: %v", err, err)
			}
			return
		}
		p, err := r.Policy()
		if err != nil {
			t.Fatalf("Policy: %v", err)
		}
		checkPolicy(t, p, allowed)
		c := r.SQL(len(src)%3, a)
		checkRuleSQL(t, c, len(src)%3, allowed)
		if _, err := r.Eval(rec, a); err != nil {
			t.Fatalf("Eval: %v", err)
		}
	})
}

// TestRulePolicyMatchesGo checks that a rule means the same three ways:
// the policy (settings read by PostgreSQL), the query SQL (request values
// as arguments) and Eval in Go, over random rules, random records and
// random callers.
func TestRulePolicyMatchesGo(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(envSeed); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s: %v", envSeed, err)
		}
		seed = v
	}
	t.Logf("seed %d (%s=%d repeats this run)", seed, envSeed, seed)
	rng := rand.New(rand.NewPCG(seed, 0x7a1e))
	ctx := context.Background()
	pool := testenv.Pool(t)
	if _, err := pool.Exec(ctx, postsDDL); err != nil {
		t.Fatal(err)
	}
	records, ids := insertRecords(t, pool, rng, 50)
	env := newRuleEnv(t)
	g := &ruleGen{gen: gen{rng: rng, ids: ids, prefix: "record."}}
	allowed := quotedColumns()

	const callers, rulesPerCaller = 50, 12
	cases, allowedRows := 0, 0
	for range callers {
		a := g.auth()
		claims, err := json.Marshal(a.Claims)
		if err != nil {
			t.Fatal(err)
		}
		type testCase struct {
			rule string
			r    *filter.Rule
		}
		batch := make([]testCase, rulesPerCaller)
		for i := range batch {
			src := g.pred(0)
			r, err := env.Rule(src, pick(rng, filter.Methods))
			if err != nil {
				t.Fatalf("Rule(%s): %v", src, err)
			}
			batch[i] = testCase{rule: src, r: r}
		}
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Rolled back before any Fatal, so that the pool can close.
		fatalf := func(format string, args ...any) {
			t.Helper()
			_ = tx.Rollback(ctx)
			t.Fatalf(format, args...)
		}
		if _, err := tx.Exec(ctx, `SELECT set_config('sovereign.uid', $1, true), set_config('sovereign.auth_role', $2, true),
			set_config('sovereign.aal', $3, true), set_config('sovereign.claims', $4, true)`, a.UID, a.Role, a.AAL, string(claims)); err != nil {
			fatalf("%v", err)
		}
		if err := tx.QueryRow(ctx, "SELECT now()").Scan(&a.Time); err != nil {
			fatalf("%v", err)
		}
		var q strings.Builder
		var args []any
		for i, tc := range batch {
			p, err := tc.r.Policy()
			if err != nil {
				fatalf("%v", err)
			}
			if strings.Contains(p, "$") && !strings.Contains(p, "'") {
				fatalf("policy %s has a placeholder", p)
			}
			checkPolicy(t, p, allowed)
			c := tc.r.SQL(len(args), a)
			checkRuleSQL(t, c, len(args), allowed)
			args = append(args, c.Args...)
			if i > 0 {
				q.WriteString(" UNION ALL ")
			}
			fmt.Fprintf(&q, "SELECT %d, 'p', id::text FROM posts WHERE %s UNION ALL SELECT %d, 'q', id::text FROM posts WHERE %s", i, p, i, c.SQL)
		}
		got := map[string]bool{}
		rows, err := tx.Query(ctx, q.String(), args...)
		if err == nil {
			for rows.Next() {
				var (
					k        int
					mode, id string
				)
				if err = rows.Scan(&k, &mode, &id); err != nil {
					break
				}
				got[fmt.Sprint(k, mode, id)] = true
			}
			rows.Close()
			if err == nil {
				err = rows.Err()
			}
		}
		_ = tx.Rollback(ctx)
		if err != nil {
			t.Fatalf("caller %+v: %v\n%s", a, err, q.String())
		}
		for i, tc := range batch {
			for _, rec := range records {
				want, err := tc.r.Eval(rec, a)
				if err != nil {
					t.Fatalf("Eval(%s): %v", tc.rule, err)
				}
				id := rec["id"].(string)
				for _, mode := range []string{"p", "q"} {
					if got[fmt.Sprint(i, mode, id)] != want {
						p, _ := tc.r.Policy()
						t.Fatalf("rule %s (%s SQL) for caller %+v (claims %s)\npolicy %s\nrecord %v: SQL says %t, Go says %t (seed %d)",
							tc.rule, map[string]string{"p": "policy", "q": "query"}[mode], a, claims, p, rec, !want, want, seed)
					}
				}
				if want {
					allowedRows++
				}
			}
			cases++
		}
	}
	t.Logf("%d rule × caller cases over %d records agreed three ways (%d rows allowed)", cases, len(records), allowedRows)
}

// ruleGen writes random rules: filters over record.<field> mixed with
// conditions on the caller and the request.
type ruleGen struct{ gen }

func (g *ruleGen) pred(depth int) string {
	if depth < 3 && g.rng.IntN(100) < 55 {
		switch g.rng.IntN(8) {
		case 0, 1, 2:
			return "(" + g.pred(depth+1) + " && " + g.pred(depth+1) + ")"
		case 3, 4, 5:
			return "(" + g.pred(depth+1) + " || " + g.pred(depth+1) + ")"
		default:
			return "!(" + g.pred(depth+1) + ")"
		}
	}
	if g.rng.IntN(3) == 0 {
		return g.leaf()
	}
	return g.authLeaf()
}

var claimNames = []string{"plan", "org", "email"}

func (g *ruleGen) authLeaf() string {
	r := g.rng
	text := func() string { return strconv.Quote(pick(r, append(slices.Clone(poolText), "admin", "aal2", "pro"))) }
	switch r.IntN(16) {
	case 0:
		return g.pick("text") + " " + pick(r, ops) + " auth.uid"
	case 1:
		return "auth.uid " + pick(r, []string{"==", "!="}) + " " + g.pick("uuid")
	case 2:
		return "auth.uid " + pick(r, []string{"==", "!="}) + " ''"
	case 3:
		return "auth.role " + pick(r, ops) + " " + strconv.Quote(pick(r, []string{"admin", "editor", "anon", "authenticated"}))
	case 4:
		return "auth.role in [" + strconv.Quote(pick(r, []string{"admin", "editor"})) + ", " + text() + "]"
	case 5:
		return "auth.aal == " + strconv.Quote(pick(r, []string{"aal1", "aal2", ""}))
	case 6:
		return "auth.claims." + pick(r, claimNames) + " " + pick(r, ops) + " " + text()
	case 7:
		return "auth.claims." + pick(r, claimNames) + " " + pick(r, []string{"==", "!="}) + " null"
	case 8:
		return g.pick("text") + " " + pick(r, []string{"==", "!=", "<", ">="}) + " auth.claims." + pick(r, claimNames)
	case 9:
		return "auth.claims." + pick(r, claimNames) + "." + pick(r, []string{"startsWith", "endsWith", "contains"}) + "(" + strconv.Quote(g.substring()) + ")"
	case 10:
		return "auth.claims.email.matches(" + strconv.Quote(g.pattern()) + ")"
	case 11:
		return g.pick("time") + " " + pick(r, ops) + " request.time"
	case 12:
		return "request.time " + pick(r, ops) + " timestamp(\"2000-01-01T00:00:00Z\") + duration(\"1h\")"
	case 13:
		return "request.method " + pick(r, []string{"==", "!="}) + " " + strconv.Quote(pick(r, filter.Methods))
	case 14:
		return "size(auth.uid) " + pick(r, ops) + " " + strconv.Itoa(r.IntN(40))
	default:
		return "auth.uid == auth.claims.org"
	}
}

// auth is a random caller: anonymous or a user whose id is sometimes a
// value the records hold.
func (g *ruleGen) auth() filter.Auth {
	r := g.rng
	a := filter.Auth{
		UID:  pick(r, append([]string{"", "", "a", "abc", "k", poolUUID[1], strings.ToUpper(g.ids[0])}, g.ids[:5]...)),
		Role: pick(r, []string{"anon", "authenticated", "admin", "editor"}),
		AAL:  pick(r, []string{"", "aal1", "aal2"}),
	}
	if r.IntN(5) > 0 {
		a.Claims = map[string]any{}
		for _, name := range claimNames {
			switch r.IntN(6) {
			case 0:
			case 1:
				a.Claims[name] = pick(r, []any{5.0, true, nil, []any{"pro"}, map[string]any{"a": "b"}})
			default:
				a.Claims[name] = pick(r, append(slices.Clone(poolText), "pro", "a@x.com", "it's", `x\y`, a.UID))
			}
		}
	}
	return a
}

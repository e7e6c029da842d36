package filter_test

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sovereign-backend/sovereign/dataplane/filter"
)

// FuzzCompile feeds the compiler arbitrary text. Whatever it gets, it must
// not panic, must give a *filter.Error with a position inside the text or
// none, and its SQL must consist only of the collection's quoted column
// names, placeholders with casts, operators and keywords: no value from
// the filter may reach the SQL text.
func FuzzCompile(f *testing.F) {
	env := newEnv(f)
	allowed := quotedColumns()
	for _, s := range []string{
		`n == 5`, `title.startsWith("a%") && !(price > 2.5)`, `meta == null`, `n in [1, 2]`,
		`due > timestamp("2024-05-01T10:00:00Z") - duration("1h")`, `title.matches("(?i)^a.c$")`,
		`titel == "x"`, `n == "x"`, `n == (1`, `"'; DROP TABLE posts; --" == title`,
	} {
		f.Add(s)
	}
	records := []map[string]any{
		{"id": "0190a0b1-c2d3-7e4f-8a5b-6c7d8e9fa0b1"},
		{"id": "0190a0b1-c2d3-7e4f-8a5b-6c7d8e9fa0b1", "created_at": time.Unix(0, 0), "updated_at": time.Unix(0, 0),
			"version": int64(1), "title": "abc", "body": "", "attachment": "x", "n": int64(-1), "m": int64(1 << 62),
			"price": 2.5, "weight": math.Copysign(0, -1), "done": true, "pinned": false, "due": time.Now(), "seen": time.Time{},
			"author": "0190a0b1-c2d3-7e4f-8a5b-6c7d8e9fa0b1", "meta": map[string]any{"a": 1.0}, "emb": []float32{1, 2, 3}},
	}
	f.Fuzz(func(t *testing.T, src string) {
		base := len(src) % 5
		c, err := env.Compile(src, base)
		p, perr := env.Program(src)
		if (err == nil) != (perr == nil) {
			t.Fatalf("Compile says %v but Program says %v", err, perr)
		}
		if err != nil {
			fe, ok := errors.AsType[*filter.Error](err)
			if !ok {
				t.Fatalf("%T is not a *filter.Error: %v", err, err)
			}
			if fe.Line != 0 && (fe.Offset < 0 || fe.Offset > len(src) || fe.Column < 1) {
				t.Fatalf("error position outside the filter: %+v", fe)
			}
			return
		}
		checkSQL(t, c, base, allowed)
		for _, r := range records {
			if _, err := p.Eval(r); err != nil {
				t.Fatalf("Eval: %v", err)
			}
		}
	})
}

// quotedColumns are the column names compiled SQL may hold.
func quotedColumns() map[string]bool {
	q := map[string]bool{}
	for _, c := range columns {
		q[pgx.Identifier{c.name}.Sanitize()] = true
	}
	return q
}

var sqlToken = regexp.MustCompile(`^(?:\s+|"(?:[^"]|"")*"|\$[0-9]+::(?:bigint|float8|text|boolean|timestamptz|uuid)|[A-Za-z_]+|<=|>=|<>|[=<>~(),])`)

var sqlWords = map[string]bool{
	"AND": true, "OR": true, "IS": true, "NOT": true, "NULL": true, "TRUE": true, "FALSE": true,
	"IN": true, "LIKE": true, "char_length": true, "jsonb_typeof": true,
}

// checkSQL tokenises compiled SQL against a whitelist and checks that each
// placeholder is used once, in order, and that the arguments have the
// documented types.
func checkSQL(t *testing.T, c filter.Compiled, base int, columns map[string]bool) {
	t.Helper()
	checkSQLArgs(t, c, base, columns, false)
}

func checkSQLArgs(t *testing.T, c filter.Compiled, base int, columns map[string]bool, nilOK bool) {
	t.Helper()
	next := base + 1
	for rest := c.SQL; rest != ""; {
		tok := sqlToken.FindString(rest)
		if tok == "" && nilOK && strings.HasPrefix(rest, "::text") {
			tok = "::text" // rules compare ids with request values as text
		}
		if tok == "" {
			t.Fatalf("SQL %s: unexpected text at %q", c.SQL, rest)
		}
		rest = rest[len(tok):]
		switch {
		case tok[0] == '"':
			if !columns[tok] {
				t.Fatalf("SQL %s: %s is not a column", c.SQL, tok)
			}
		case tok[0] == '$':
			n, _ := strconv.Atoi(tok[1:strings.Index(tok, "::")])
			if n != next {
				t.Fatalf("SQL %s: placeholder $%d, want $%d", c.SQL, n, next)
			}
			next++
		case isLetter(tok[0]):
			if !sqlWords[tok] {
				t.Fatalf("SQL %s: word %q is not a keyword the compiler writes", c.SQL, tok)
			}
		}
	}
	if next-base-1 != len(c.Args) {
		t.Fatalf("SQL %s: %d placeholders for %d arguments", c.SQL, next-base-1, len(c.Args))
	}
	for _, a := range c.Args {
		switch a.(type) {
		case int64, float64, string, bool, time.Time:
		case nil:
			if !nilOK {
				t.Fatalf("argument %#v has type %T", a, a)
			}
		default:
			t.Fatalf("argument %#v has type %T", a, a)
		}
	}
}

// checkRuleSQL is checkSQL for a rule's query SQL, whose arguments may be
// nil (a claim the caller does not have).
func checkRuleSQL(t *testing.T, c filter.Compiled, base int, columns map[string]bool) {
	t.Helper()
	checkSQLArgs(t, c, base, columns, true)
}

func isLetter(b byte) bool { return b == '_' || b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' }

// TestSeedCorpus keeps the committed corpus honest: the seeds named valid_*
// compile and those named invalid_* are refused.
func TestSeedCorpus(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	dir := filepath.Join("testdata", "fuzz", "FuzzCompile")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, "valid_") && !strings.HasPrefix(name, "invalid_") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		_, line, _ := strings.Cut(strings.TrimSpace(string(data)), "\n")
		src, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(line, "string("), ")"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		_, err = env.Compile(src, 0)
		if valid := strings.HasPrefix(name, "valid_"); valid != (err == nil) {
			t.Errorf("%s: %q: compile error %v", name, src, err)
		}
	}
}

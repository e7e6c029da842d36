package filter_test

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sovereign-backend/sovereign/dataplane/filter"
	"github.com/sovereign-backend/sovereign/dataplane/schema"
)

func TestCompile(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	ts := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	const u = "0190a0b1-c2d3-7e4f-8a5b-6c7d8e9fa0b1"
	tests := []struct {
		filter string
		sql    string
		args   []any
	}{
		{`n == 5`, `"n" = $1::bigint`, []any{int64(5)}},
		{`5 < n`, `"n" > $1::bigint`, []any{int64(5)}},
		{`n != -7`, `"n" <> $1::bigint`, []any{int64(-7)}},
		{`price >= 5`, `"price" >= $1::float8`, []any{float64(5)}},
		{`price == 5`, `"price" = $1::float8`, []any{float64(5)}},
		{`n > 2.5`, `"n" > $1::float8`, []any{2.5}},
		{`n < price`, `"n" < "price"`, nil},
		{`title == "x" && n > 1 || !done`, `(("title" = $1::text AND "n" > $2::bigint) OR ("done") IS NOT TRUE)`, []any{"x", int64(1)}},
		{`!(n > 1)`, `("n" > $1::bigint) IS NOT TRUE`, []any{int64(1)}},
		{`done`, `"done"`, nil},
		{`done == true`, `"done" = $1::boolean`, []any{true}},
		{`true`, `TRUE`, nil},
		{`n == null`, `"n" IS NULL`, nil},
		{`null != title`, `"title" IS NOT NULL`, nil},
		{`meta == null`, `("meta" IS NULL OR jsonb_typeof("meta") = $1::text)`, []any{"null"}},
		{`meta != null`, `jsonb_typeof("meta") <> $1::text`, []any{"null"}},
		{`n in [1, 2, 3]`, `"n" IN ($1::bigint, $2::bigint, $3::bigint)`, []any{int64(1), int64(2), int64(3)}},
		{`price in [1, 2.5]`, `"price" IN ($1::float8, $2::float8)`, []any{float64(1), 2.5}},
		{`n in []`, `FALSE`, nil},
		{`title.startsWith("a%b_c\\")`, `"title" LIKE $1::text`, []any{`a\%b\_c\\%`}},
		{`title.endsWith("z")`, `"title" LIKE $1::text`, []any{`%z`}},
		{`attachment.contains("x")`, `"attachment" LIKE $1::text`, []any{`%x%`}},
		{`title.matches("^a.c$")`, `"title" ~ $1::text`, []any{`^a[^\u000a]c$`}},
		{`matches(title, "(?i)k")`, `"title" ~ $1::text`, []any{`[Kk\u212a]`}},
		{`size(title) > 3`, `char_length("title") > $1::bigint`, []any{int64(3)}},
		{`title.size() in [1, 2]`, `char_length("title") IN ($1::bigint, $2::bigint)`, []any{int64(1), int64(2)}},
		{`due > timestamp("2024-05-01T10:00:00Z")`, `"due" > $1::timestamptz`, []any{ts}},
		{`due > timestamp("2024-05-01T12:00:00+02:00") - duration("1h")`, `"due" > $1::timestamptz`, []any{ts.Add(-time.Hour)}},
		{`created_at <= duration("30m") + timestamp("2024-05-01T10:00:00Z")`, `"created_at" <= $1::timestamptz`, []any{ts.Add(30 * time.Minute)}},
		{`author == "0190A0B1-C2D3-7E4F-8A5B-6C7D8E9FA0B1"`, `"author" = $1::uuid`, []any{u}},
		{`id in ["` + u + `"]`, `"id" IN ($1::uuid)`, []any{u}},
		{`author == id`, `"author" = "id"`, nil},
		{`version >= 2 && updated_at > created_at`, `("version" >= $1::bigint AND "updated_at" > "created_at")`, []any{int64(2)}},
		{"n == 1 &&\n  title == 'it\\'s'", `("n" = $1::bigint AND "title" = $2::text)`, []any{int64(1), "it's"}},
		{`n == -9223372036854775808`, `"n" = $1::bigint`, []any{int64(-9223372036854775808)}},
	}
	for _, tt := range tests {
		c, err := env.Compile(tt.filter, 0)
		if err != nil {
			t.Errorf("Compile(%q): %v", tt.filter, err)
			continue
		}
		if c.SQL != tt.sql {
			t.Errorf("Compile(%q).SQL = %s, want %s", tt.filter, c.SQL, tt.sql)
		}
		if !reflect.DeepEqual(c.Args, tt.args) {
			t.Errorf("Compile(%q).Args = %#v, want %#v", tt.filter, c.Args, tt.args)
		}
	}
}

func TestCompileArgBase(t *testing.T) {
	t.Parallel()
	c, err := newEnv(t).Compile(`n == 1 || title in ["a", "b"]`, 3)
	if err != nil {
		t.Fatal(err)
	}
	if want := `("n" = $4::bigint OR "title" IN ($5::text, $6::text))`; c.SQL != want {
		t.Errorf("SQL = %s, want %s", c.SQL, want)
	}
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	tests := []struct {
		filter       string
		line, column int
		field        string
		msg          string
	}{
		{`titel == "x"`, 1, 1, "titel", `unknown field "titel"`},
		{`n == 1 && titel == "x"`, 1, 11, "titel", `unknown field "titel"`},
		{"n == 1 &&\n  bogus > 2", 2, 3, "bogus", `unknown field "bogus"`},
		{`n == "x"`, 1, 1, "n", `n: cannot compare integer with string`},
		{`"x" == n`, 1, 8, "n", `n: cannot compare integer with string`},
		{`title > 5`, 1, 1, "title", `title: cannot compare text with integer`},
		{`n in ["a"]`, 1, 1, "n", `n: cannot compare integer with string`},
		{`n in [1, "a"]`, 1, 1, "n", `n: cannot compare integer with string`},
		{`n == 2.5`, 1, 1, "n", `n: cannot compare integer with double`},
		{`due > "2024-01-01"`, 1, 1, "due", `due: cannot compare timestamp with string`},
		{`title == author`, 1, 1, "title", `title: cannot compare text with relation`},
		{`author == title`, 1, 1, "author", `author: cannot compare relation with text`},
		{`id != attachment`, 1, 1, "id", `id: cannot compare id with file`},
		{`size(title) == price`, 1, 5, "title", `title: cannot compare integer with number`},
		{`n != weight`, 1, 1, "n", `n: cannot compare integer with number`},
		{`author == "nope"`, 1, 11, "author", `author: "nope" is not a UUID`},
		{`n == 1 &&`, 1, 10, "", `syntax error`},
		{`n == (1`, 1, 8, "", `syntax error`},
		{`n + 1 > 2`, 1, 3, "", `arithmetic is not supported in filters`},
		{`n * 2 > 2`, 1, 3, "", `* is not supported in filters`},
		{`has(meta.k)`, 1, 4, "", `function has is not supported in filters`},
		{`meta.k == "x"`, 1, 5, "meta", `meta: nested paths (meta.k) are not supported in filters`},
		{`meta == 5`, 1, 1, "meta", `meta: json fields can only be compared with null`},
		{`emb == null`, 1, 1, "emb", `emb: vector fields cannot be used in filters`},
		{`n`, 1, 1, "n", `n: an integer field is not a condition`},
		{`n && done`, 1, 1, "n", `not a condition`},
		{`n < null`, 1, 3, "n", `n: null can only be compared with == and !=`},
		{`n in [1, null]`, 1, 10, "n", `null is not allowed in an in list`},
		{`1 == 1`, 1, 3, "", `compare a field with a value, not two values`},
		{`n.startsWith("a")`, 1, 1, "n", `n: startsWith applies to text and file fields, not integer`},
		{`title.startsWith(title)`, 1, 18, "title", `title: startsWith takes a string literal`},
		{`title.matches("(?m)^a")`, 1, 15, "title", `multi-line anchors`},
		{`title.matches("\\bword")`, 1, 15, "title", `word boundaries`},
		{`title.matches("a{300}")`, 1, 15, "title", `repetition counts above 255`},
		{`title.matches("(")`, 1, 15, "title", `invalid pattern`},
		{`title == "a\x00"`, 1, 10, "", `NUL`},
		{`due > timestamp("yesterday")`, 1, 17, "", `not an RFC 3339 timestamp`},
		{`due > timestamp("2024-01-01T00:00:00.0000001Z")`, 1, 17, "", `microsecond`},
		{`due > duration("1h")`, 1, 1, "due", `due: cannot compare timestamp with duration`},
		{`n > 1u`, 1, 5, "", `unsigned integer literals are not supported`},
		{`title == b"x"`, 1, 10, "", `bytes literals are not supported`},
		{`done ? n > 1 : n < 1`, 1, 6, "", `the conditional operator ?: is not supported in filters`},
		{`{"a": 1} == meta`, 1, 1, "", `maps, messages and comprehensions are not supported`},
		{`[1] == [1]`, 1, 1, "", `lists are only supported on the right of in`},
		{`size(n) > 1`, 1, 6, "n", `n: size applies to text and file fields, not integer`},
		{`lowerAscii(title) == "a"`, 1, 11, "", `function lowerAscii is not supported in filters`},
		{`  `, 1, 1, "", `the filter is empty`},
		{`"é" == 1 || titel == 1`, 1, 13, "titel", `unknown field`},
	}
	for _, tt := range tests {
		for _, compile := range []func(string) error{
			func(s string) error { _, err := env.Compile(s, 0); return err },
			func(s string) error { _, err := env.Program(s); return err },
		} {
			err := compile(tt.filter)
			var fe *filter.Error
			if !errors.As(err, &fe) {
				t.Errorf("%q: error %v, want a *filter.Error", tt.filter, err)
				continue
			}
			if fe.Line != tt.line || fe.Column != tt.column || fe.Field != tt.field || !strings.Contains(fe.Message, tt.msg) {
				t.Errorf("%q: got line %d column %d field %q message %q; want line %d column %d field %q message containing %q",
					tt.filter, fe.Line, fe.Column, fe.Field, fe.Message, tt.line, tt.column, tt.field, tt.msg)
			}
			if want := fe.Message; !strings.HasSuffix(err.Error(), want) || !strings.HasPrefix(err.Error(), "filter: ") {
				t.Errorf("%q: Error() = %q", tt.filter, err.Error())
			}
		}
	}
}

func TestLimits(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	pad := func(s string, n int) string { return s + strings.Repeat(" ", n-len(s)) }
	list := func(n int) string {
		var vals []string
		for i := range n {
			vals = append(vals, strconv.Itoa(i%10))
		}
		return "n in [" + strings.Join(vals, ",") + "]"
	}
	nest := func(depth int) string {
		// Each !( … ) is one level; the comparison below them is two more.
		return strings.Repeat("!(", depth-2) + "n == 1" + strings.Repeat(")", depth-2)
	}
	tests := []struct {
		filter string
		msg    string // "" when it compiles
	}{
		{pad("n == 1", filter.MaxLen), ""},
		{pad("n == 1", filter.MaxLen+1), "4097 bytes long, more than the limit of 4096"},
		{list(filter.MaxNodes - 3), ""},
		{list(filter.MaxNodes - 2), "more than 256 expression nodes"},
		{nest(filter.MaxDepth), ""},
		{nest(filter.MaxDepth + 1), "nested more than 32 levels deep"},
		{strings.Repeat("(", 300) + "done" + strings.Repeat(")", 300), "syntax error"},
		{`title.matches("` + strings.Repeat("a", filter.MaxPatternLen) + `")`, ""},
		{`title.matches("` + strings.Repeat("a", filter.MaxPatternLen+1) + `")`, "longer than 256 bytes"},
		{`title.matches("a{255}")`, ""},
	}
	for _, tt := range tests {
		_, err := env.Compile(tt.filter, 0)
		switch {
		case tt.msg == "" && err != nil:
			t.Errorf("%.60q…: %v", tt.filter, err)
		case tt.msg != "" && (err == nil || !strings.Contains(err.Error(), tt.msg)):
			t.Errorf("%.60q…: error %v, want one containing %q", tt.filter, err, tt.msg)
		}
		if _, ok := errors.AsType[*filter.Error](err); err != nil && !ok {
			t.Errorf("%.60q…: %T is not a *filter.Error", tt.filter, err)
		}
	}
}

func TestEval(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	at := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	full := map[string]any{
		"id": "0190a0b1-c2d3-7e4f-8a5b-6c7d8e9fa0b1", "created_at": at, "updated_at": at, "version": int64(2),
		"title": "Héllo", "n": int64(5), "price": 2.5, "done": true, "due": at.In(time.FixedZone("", 3600)),
		"author": "0190A0B1-C2D3-7E4F-8A5B-6C7D8E9FA0B1", "meta": map[string]any{"k": "v"}, "emb": []float32{1, 2, 3},
	}
	empty := map[string]any{"id": "0190a0b1-c2d3-7e4f-8a5b-6c7d8e9fa0b1"}
	tests := []struct {
		filter      string
		full, empty bool
	}{
		{`n > 4`, true, false},
		{`!(n > 4)`, false, true},
		{`n != 4`, true, false},
		{`n == null`, false, true},
		{`n != null`, true, false},
		{`n > 4.5`, true, false},
		{`size(title) == 5`, true, false},
		{`title.startsWith("Hé")`, true, false},
		{`title.matches("(?i)^h")`, true, false},
		{`done`, true, false},
		{`!done`, false, true},
		{`due == timestamp("2024-05-01T10:00:00Z")`, true, false},
		{`author == id`, true, false},
		{`author == "0190a0b1-c2d3-7e4f-8a5b-6c7d8e9fa0b1"`, true, false},
		{`meta != null`, true, false},
		{`meta == null || n in []`, false, true},
		{`title in ["Héllo", "x"]`, true, false},
	}
	for _, tt := range tests {
		p, err := env.Program(tt.filter)
		if err != nil {
			t.Errorf("%s: %v", tt.filter, err)
			continue
		}
		for _, c := range []struct {
			rec  map[string]any
			want bool
		}{{full, tt.full}, {empty, tt.empty}} {
			got, err := p.Eval(c.rec)
			if err != nil || got != c.want {
				t.Errorf("%s on %v = %t, %v; want %t", tt.filter, c.rec, got, err, c.want)
			}
		}
	}
	p, err := env.Program(`n > 1`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Eval(map[string]any{"n": "5"}); err == nil || !strings.Contains(err.Error(), `field "n" holds a string, not an integer value`) {
		t.Errorf("Eval with a string for an integer field: %v", err)
	}
}

func TestNewEnv(t *testing.T) {
	t.Parallel()
	if _, err := filter.NewEnv(&schema.Collection{Name: "c", Fields: []schema.Field{{Name: "x", Type: "money"}}}); err == nil {
		t.Error("NewEnv accepted an unknown field type")
	}
	if _, err := filter.NewEnv(&schema.Collection{Name: "c", Fields: []schema.Field{{Name: "id", Type: schema.Text}}}); err == nil {
		t.Error("NewEnv accepted a field named like a system field")
	}
	env, err := filter.NewEnv(&schema.Collection{Name: "c", Fields: []schema.Field{{Name: "in", Type: schema.Text}, {Name: "x", Type: schema.Text}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Compile(`x == "a"`, 0); err != nil {
		t.Error(err)
	}
}

// TestConcurrentUse compiles and evaluates on one Env from several
// goroutines; run with -race.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	p, err := env.Program(`title.matches("^a") && n > 1`)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 20 {
				f := fmt.Sprintf(`n == %d || title.startsWith("%d")`, i, j)
				if _, err := env.Compile(f, j); err != nil {
					t.Error(err)
				}
				if ok, err := p.Eval(map[string]any{"title": "abc", "n": int64(j)}); err != nil || ok != (j > 1) {
					t.Errorf("Eval = %t, %v", ok, err)
				}
			}
		})
	}
	wg.Wait()
}

package sovereign

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// The platform parses and type-checks filters with cel-go; the SDK does not
// depend on it. These tests pin down the text the builder writes against
// CEL's grammar (literals, escapes, precedence), and the examples run the
// builder's filters against the real platform.

func TestFilterText(t *testing.T) {
	t.Parallel()
	type Status string
	at := time.Date(2024, 5, 6, 7, 8, 9, 123000000, time.FixedZone("CEST", 2*3600))
	n := 7
	for _, tc := range []struct {
		name string
		f    Filter
		want string
	}{
		{"zero", Filter{}, ""},
		{"gt int", Where("n").Gt(5), `n > 5`},
		{"gte negative", Where("n").Gte(-5), `n >= -5`},
		{"lt float", Where("score").Lt(2.5), `score < 2.5`},
		{"float integral stays double", Where("score").Lte(3.0), `score <= 3.0`},
		{"float exponent", Where("score").Lt(1e300), `score < 1e+300`},
		{"float32", Where("score").Lt(float32(0.1)), `score < 0.1`},
		{"eq string", Where("title").Eq("hello"), `title == "hello"`},
		{"ne bool", Where("done").Ne(true), `done != true`},
		{"named string type", Where("status").Eq(Status("open")), `status == "open"`},
		{"pointer", Where("n").Eq(&n), `n == 7`},
		{"nil pointer is null", Where("n").Eq((*int)(nil)), `n == null`},
		{"is null", Where("due").IsNull(), `due == null`},
		{"not null", Where("due").NotNull(), `due != null`},
		{"time", Where("created_at").Gt(at), `created_at > timestamp("2024-05-06T05:08:09.123Z")`},
		{"duration", Where("ttl").Lt(90 * time.Second), `ttl < duration("1m30s")`},
		{"in", Where("n").In(1, 2, 3), `n in [1, 2, 3]`},
		{"in strings", Where("tag").In("a", `b"c`), `tag in ["a", "b\"c"]`},
		{"in nothing", Where("tag").In(), `tag in []`},
		{"eq list", Where("tags").Eq([]string{"x", "y"}), `tags == ["x", "y"]`},
		{"starts with", Where("title").StartsWith("a"), `title.startsWith("a")`},
		{"ends with", Where("title").EndsWith(".md"), `title.endsWith(".md")`},
		{"contains", Where("title").Contains(`"`), `title.contains("\"")`},
		{"matches", Where("title").Matches(`^a\d+$`), `title.matches("^a\\d+$")`},
		{"and", Where("n").Gt(5).And(Where("title").StartsWith("a")), `n > 5 && title.startsWith("a")`},
		{"and chain", Where("a").Eq(1).And(Where("b").Eq(2)).And(Where("c").Eq(3)), `a == 1 && b == 2 && c == 3`},
		{"or", Or(Where("a").Eq(1), Where("b").Eq(2)), `a == 1 || b == 2`},
		{"or inside and", And(Or(Where("a").Eq(1), Where("b").Eq(2)), Where("c").Eq(3)), `(a == 1 || b == 2) && c == 3`},
		{"and inside or", Or(And(Where("a").Eq(1), Where("b").Eq(2)), Where("c").Eq(3)), `a == 1 && b == 2 || c == 3`},
		{"not comparison", Not(Where("n").Gt(5)), `!(n > 5)`},
		{"not call", Not(Where("title").StartsWith("a")), `!title.startsWith("a")`},
		{"not not", Not(Not(Where("n").Gt(5))), `!!(n > 5)`},
		{"not and", Not(And(Where("a").Eq(1), Where("b").Eq(2))), `!(a == 1 && b == 2)`},
		{"raw alone", Raw(`n > 5 || x`), `n > 5 || x`},
		{"raw is parenthesised", Raw(`n > 5 || x`).And(Where("y").Eq(1)), `(n > 5 || x) && y == 1`},
		{"raw in or", Or(Raw(`a ? b : c`), Where("y").Eq(1)), `(a ? b : c) || y == 1`},
		{"blank raw is zero", Raw("  "), ""},
		{"zero operands are left out", And(Filter{}, Where("n").Eq(1), Filter{}), `n == 1`},
		{"or of zero", Or(Filter{}, Filter{}), ""},
		{"max safe integer", Where("n").Eq(MaxSafeInteger), `n == 9007199254740991`},
		{"min safe integer", Where("n").Eq(-MaxSafeInteger), `n == -9007199254740991`},
	} {
		if err := tc.f.Err(); err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got := tc.f.String(); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

func TestFilterErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		f    Filter
		want string
	}{
		{"empty name", Where("").Eq(1), "empty field name"},
		{"injection in a name", Where(`n > 0 || true`).Eq(1), "is not a field name"},
		{"closing paren in a name", Where(`x) || (true`).Eq(1), "is not a field name"},
		{"digit first", Where("1n").Eq(1), "is not a field name"},
		{"json path", Where("meta.source").Eq("web"), "paths into json fields are not supported"},
		{"empty path segment", Where("meta..x").Eq(1), "paths into json fields are not supported"},
		{"unicode name", Where("tïtle").Eq(1), "is not a field name"},
		{"reserved word", Where("in").Eq(1), "reserved word"},
		{"reserved word", Where("for").Eq(1), "reserved word"},
		{"too large", Where("n").Gt(int64(MaxSafeInteger + 1)), "beyond ±(2^53−1)"},
		{"too small", Where("n").Gt(int64(-MaxSafeInteger - 1)), "beyond ±(2^53−1)"},
		{"uint too large", Where("n").Gt(uint64(math.MaxUint64)), "beyond ±(2^53−1)"},
		{"nan", Where("x").Eq(math.NaN()), "has no literal"},
		{"inf", Where("x").Eq(math.Inf(1)), "has no literal"},
		{"map", Where("x").Eq(map[string]int{"a": 1}), "has no literal"},
		{"bytes", Where("x").Eq([]byte("a")), "bytes"},
		{"struct", Where("x").Eq(struct{}{}), "has no literal"},
		{"bad utf-8", Where("x").Eq("a\xffb"), "not valid UTF-8"},
		{"bad value in a list", Where("x").In(1, math.NaN()), "has no literal"},
		{"not of nothing", Not(Filter{}), "Not of an empty filter"},
		{"error survives and", Where("n").Gt(1).And(Where("").Eq(1)), "empty field name"},
		{"error survives or", Or(Where("").Eq(1), Where("n").Gt(1)), "empty field name"},
		{"error survives not", Not(Where("").Eq(1)), "empty field name"},
	} {
		err := tc.f.Err()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want one saying %q", tc.name, err, tc.want)
			continue
		}
		if !IsInvalidArgument(err) {
			t.Errorf("%s: %v is not InvalidArgument", tc.name, err)
		}
		if tc.f.String() != "" {
			t.Errorf("%s: a broken filter has text %q", tc.name, tc.f.String())
		}
	}
}

// TestStringLiteralEscapes is the table of how strings are written: each
// CEL escape where one is needed, printable Unicode as is.
func TestStringLiteralEscapes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{``, `""`},
		{`plain`, `"plain"`},
		{`say "hi"`, `"say \"hi\""`},
		{`it's`, `"it's"`},
		{`back\slash`, `"back\\slash"`},
		{`\"`, `"\\\""`},
		{"line\nbreak", `"line\nbreak"`},
		{"cr\r tab\t bell\a bs\b ff\f vt\v", `"cr\r tab\t bell\a bs\b ff\f vt\v"`},
		{"nul\x00", `"nul\u0000"`},
		{"esc\x1b", `"esc\u001b"`},
		{"del\x7f", `"del\u007f"`},
		{"c1\u0085", `"c1\u0085"`},
		{"ls\u2028ps\u2029", `"ls\u2028ps\u2029"`},
		{"zwsp\u200b bom\ufeff", `"zwsp\u200b bom\ufeff"`},
		{"private\U000F0000", `"private\U000f0000"`},
		{"héllo wörld", `"héllo wörld"`},
		{"日本語", `"日本語"`},
		{"emoji 🎉", `"emoji 🎉"`},
		{`${x} + 1 || true`, `"${x} + 1 || true"`},
		{`"""triple`, `"\"\"\"triple"`},
		{`r"raw"`, `"r\"raw\""`},
	} {
		got, err := Literal(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%q:\n got %s\nwant %s", tc.in, got, tc.want)
		}
		if back, err := unquoteCEL(got); err != nil || back != tc.in {
			t.Errorf("%q: reading %s back gives %q, %v", tc.in, got, back, err)
		}
	}
}

// FuzzStringLiteral checks that any valid UTF-8 string becomes one CEL
// string literal that reads back as the same string, with no raw quote,
// backslash or line break that could end it early.
func FuzzStringLiteral(f *testing.F) {
	for _, s := range []string{"", "a", `"`, `\`, "\n", `\"`, "\u2028", "🎉", `" || true || "`, "\x00\x01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lit, err := Literal(s)
		if !utf8.ValidString(s) {
			if err == nil {
				t.Fatalf("invalid UTF-8 %q was accepted as %s", s, lit)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.ContainsAny(lit, "\n\r") {
			t.Fatalf("%s holds a raw line break", lit)
		}
		back, err := unquoteCEL(lit)
		if err != nil || back != s {
			t.Fatalf("%q → %s → %q, %v", s, lit, back, err)
		}
	})
}

// unquoteCEL reads one double-quoted CEL string literal that must make up
// all of lit, following the escapes of CEL's grammar (the subset of Go's,
// plus \u and \U). Any unescaped quote before the end is an error.
func unquoteCEL(lit string) (string, error) {
	if len(lit) < 2 || lit[0] != '"' || lit[len(lit)-1] != '"' {
		return "", fmt.Errorf("%s is not double-quoted", lit)
	}
	body := lit[1 : len(lit)-1]
	var b strings.Builder
	for i := 0; i < len(body); {
		c := body[i]
		switch c {
		case '"':
			return "", fmt.Errorf("unescaped quote at %d of %s", i+1, lit)
		case '\\':
			if i+1 >= len(body) {
				return "", errors.New("dangling backslash")
			}
			e := body[i+1]
			simple := map[byte]string{'"': `"`, '\'': "'", '\\': `\`, '`': "`", '?': "?", 'n': "\n", 'r': "\r", 't': "\t", 'a': "\a", 'b': "\b", 'f': "\f", 'v': "\v"}
			if s, ok := simple[e]; ok {
				b.WriteString(s)
				i += 2
				continue
			}
			width := map[byte]int{'u': 4, 'U': 8}[e]
			if width == 0 || i+2+width > len(body) {
				return "", fmt.Errorf("bad escape \\%c in %s", e, lit)
			}
			r, err := strconv.ParseUint(body[i+2:i+2+width], 16, 32)
			if err != nil || !utf8.ValidRune(rune(r)) {
				return "", fmt.Errorf("bad escape in %s", lit)
			}
			b.WriteRune(rune(r))
			i += 2 + width
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), nil
}

func TestFilterValuesCannotEscapeTheirLiteral(t *testing.T) {
	t.Parallel()
	// A hostile value stays one string literal: the filter still has one
	// comparison and the value reads back unchanged.
	hostile := `x" || true || title == "`
	f := Where("title").Eq(hostile)
	want := `title == "x\" || true || title == \""`
	if f.String() != want {
		t.Fatalf("got %s, want %s", f.String(), want)
	}
	lit := strings.TrimPrefix(f.String(), "title == ")
	if back, err := unquoteCEL(lit); err != nil || back != hostile {
		t.Errorf("%s reads back as %q, %v", lit, back, err)
	}
}

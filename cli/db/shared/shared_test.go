package shared

import (
	"encoding/json"
	"strings"
	"testing"

	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

func TestParseField(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want sovereign.Field
		err  string
	}{
		{in: "title:text", want: sovereign.Field{Name: "title", Type: "text"}},
		{in: "title:text:required:unique", want: sovereign.Field{Name: "title", Type: "text", Required: true, Unique: true}},
		{in: "n:integer:default=0", want: sovereign.Field{Name: "n", Type: "integer", Default: json.Number("0")}},
		{in: `s:text:required:default="a:b=c"`, want: sovereign.Field{Name: "s", Type: "text", Required: true, Default: "a:b=c"}},
		{in: "ok:boolean:default=true", want: sovereign.Field{Name: "ok", Type: "boolean", Default: true}},
		{in: "a:relation(users)", want: sovereign.Field{Name: "a", Type: "relation", Collection: "users"}},
		{in: "e:vector(1536)", want: sovereign.Field{Name: "e", Type: "vector", Dimensions: 1536}},
		{in: "f:file", want: sovereign.Field{Name: "f", Type: "file"}},
		{in: "title", err: "want NAME:TYPE"},
		{in: ":text", err: "want NAME:TYPE"},
		{in: "t:string", err: `unknown type "string"`},
		{in: "a:relation", err: "names its collection"},
		{in: "e:vector", err: "gives its dimensions"},
		{in: "e:vector(0)", err: "positive number"},
		{in: "t:text(5)", err: "only relation(COLLECTION) and vector(DIMENSIONS)"},
		{in: "t:text:sometimes", err: `unknown option "sometimes"`},
		{in: "t:text:default=draft", err: "is not JSON"},
		{in: "t:text:default=1 2", err: "more than one JSON value"},
	} {
		got, err := ParseField(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got.Name != tc.want.Name || got.Type != tc.want.Type || got.Required != tc.want.Required ||
			got.Unique != tc.want.Unique || got.Default != tc.want.Default || got.Collection != tc.want.Collection ||
			got.Dimensions != tc.want.Dimensions {
			t.Errorf("%q: %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
		if TypeText(got) != strings.Split(tc.in, ":")[1] {
			t.Errorf("%q: TypeText %q", tc.in, TypeText(got))
		}
	}
}

func TestParseIndex(t *testing.T) {
	ix, err := ParseIndex("a, b:unique:name=ab")
	if err != nil || strings.Join(ix.Fields, ",") != "a,b" || !ix.Unique || ix.Name != "ab" {
		t.Errorf("%+v %v", ix, err)
	}
	for _, bad := range []string{"", ":unique", "a:clustered"} {
		if _, err := ParseIndex(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestCell(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{nil, ""}, {"a\tb", "a\tb"}, {true, "true"}, {5.0, "5"}, {-9007199254740991.0, "-9007199254740991"}, {0.25, "0.25"},
		{1e300, "1e+300"}, {json.Number("12"), "12"}, {[]any{"a", 1.0}, `["a",1]`}, {map[string]any{"k": "<v>"}, `{"k":"<v>"}`},
	} {
		if got := Cell(tc.v); got != tc.want {
			t.Errorf("Cell(%#v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

func TestReadRecords(t *testing.T) {
	recs, err := ReadRecords(strings.NewReader("{\"a\": 1}\n\n{\"b\":\n 2}{\"c\": 3}\n"))
	if err != nil || len(recs) != 3 || recs[1]["b"] != json.Number("2") {
		t.Errorf("%v %v", recs, err)
	}
	for in, want := range map[string]string{`{"a": 1} 5`: "record 2: not a JSON object", `{"a": `: "record 1: not JSON"} {
		if _, err := ReadRecords(strings.NewReader(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}

func TestColumns(t *testing.T) {
	spec := &sovereign.CollectionSpec{Fields: []sovereign.Field{{Name: "title", Type: "text"}, {Name: "due", Type: "timestamp"}}}
	names := func(cols []Column) string {
		var s []string
		for _, c := range cols {
			n := c.Name
			if c.Time {
				n += "*"
			}
			s = append(s, n)
		}
		return strings.Join(s, ",")
	}
	if got := names(Columns(spec, nil)); got != "id,title,due*,created_at*,updated_at*,version" {
		t.Errorf("all: %s", got)
	}
	if got := names(Columns(spec, []string{"due", "id", "extra"})); got != "id,due*,extra,created_at*,updated_at*,version" {
		t.Errorf("selected: %s", got)
	}
}

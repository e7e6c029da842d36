package schema

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestNameProblem(t *testing.T) {
	t.Parallel()
	tests := []struct {
		what, name string
		want       string // "" for valid, else a fragment of the problem
	}{
		{"collection", "posts", ""},
		{"collection", "a", ""},
		{"collection", "a1_b2", ""},
		{"collection", strings.Repeat("a", 63), ""},
		{"collection", strings.Repeat("a", 64), "at most 63"},
		{"collection", "", "name is required"},
		{"collection", "Posts", "lowercase"},
		{"collection", "_posts", "starting with a letter"},
		{"collection", "1posts", "starting with a letter"},
		{"collection", "po-sts", "lowercase"},
		{"collection", "po sts", "lowercase"},
		{"collection", "pöst", "lowercase"},
		{"collection", "pg_stuff", `"pg_" are reserved`},
		{"collection", "records", "reserved"},
		{"collection", "users", "reserved"},
		{"collection", "collections", "reserved"},
		{"collection", "batch", "reserved"},
		{"collection", "id", ""},
		{"field", "id", "system fields"},
		{"field", "created_at", "system fields"},
		{"field", "updated_at", "system fields"},
		{"field", "version", "system fields"},
		{"field", "xmin", "PostgreSQL"},
		{"field", "ctid", "PostgreSQL"},
		{"field", "records", ""},
		{"field", "title", ""},
		{"field", "Title", "lowercase"},
		{"index", "posts_title_idx", ""},
		{"index", "pg_idx", `"pg_"`},
	}
	for _, tc := range tests {
		got := nameProblem(tc.what, tc.name)
		if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("nameProblem(%s, %q) = %q, want %q", tc.what, tc.name, got, tc.want)
		}
	}
}

// FuzzNames: validation never panics, and a name it accepts matches the
// documented pattern and is neither reserved nor PostgreSQL's.
func FuzzNames(f *testing.F) {
	for _, s := range []string{"posts", "", "_x", "pg_x", "records", "id", "a\x00b", "ÄÖ", strings.Repeat("z", 70), "a'b", `a"b`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		cerr := ValidateCollectionName(name)
		ferr := ValidateFieldName(name)
		for _, err := range []error{cerr, ferr} {
			if err == nil {
				if !namePattern.MatchString(name) || strings.HasPrefix(name, "pg_") || len(name) > MaxNameLen {
					t.Fatalf("accepted %q", name)
				}
			} else if err.Error() == "" {
				t.Fatalf("empty error for %q", name)
			}
		}
		if cerr == nil && slices.Contains(ReservedNames, name) {
			t.Fatalf("accepted reserved collection name %q", name)
		}
		if ferr == nil && slices.Contains(reservedFields, name) {
			t.Fatalf("accepted reserved field name %q", name)
		}
	})
}

func TestCheckDefinition(t *testing.T) {
	t.Parallel()
	many := func(n int) []Field {
		fs := make([]Field, n)
		for i := range fs {
			fs[i] = Field{Name: fmt.Sprintf("f%d", i), Type: Text}
		}
		return fs
	}
	tests := []struct {
		name      string
		c         Collection
		wantField string // "" for valid
		want      string
	}{
		{"valid", Collection{Name: "posts", Fields: []Field{
			{Name: "title", Type: Text, Required: true, Default: "untitled"},
			{Name: "n", Type: Integer, Default: float64(MaxSafeInteger)},
			{Name: "neg", Type: Integer, Default: -float64(MaxSafeInteger)},
			{Name: "x", Type: Number, Default: 1.5},
			{Name: "ok", Type: Boolean, Default: false},
			{Name: "at", Type: Timestamp, Default: "2024-05-01T12:00:00+02:00"},
			{Name: "meta", Type: JSON, Default: map[string]any{"a": []any{1.0, "b"}}},
			{Name: "parent", Type: Relation, Collection: "posts"},
			{Name: "emb", Type: Vector, Dimensions: 3},
			{Name: "pic", Type: File},
		}, Indexes: []Index{{Fields: []string{"title", "created_at"}}}}, "", ""},
		{"no name", Collection{}, "name", "required"},
		{"reserved", Collection{Name: "rules"}, "name", "reserved"},
		{"bad type", Collection{Name: "p", Fields: []Field{{Name: "a", Type: Text}, {Name: "b", Type: "txt"}}},
			"fields[1].type", `unknown type "txt"; use one of text, integer, number, boolean, timestamp, json, relation, vector, file`},
		{"no type", Collection{Name: "p", Fields: []Field{{Name: "a"}}}, "fields[0].type", "a type is required"},
		{"duplicate field", Collection{Name: "p", Fields: []Field{{Name: "a", Type: Text}, {Name: "a", Type: Integer}}},
			"fields[1].name", `duplicate field "a"`},
		{"system field", Collection{Name: "p", Fields: []Field{{Name: "version", Type: Integer}}}, "fields[0].name", "system field"},
		{"too many fields", Collection{Name: "p", Fields: many(MaxFields + 1)}, "fields", "at most 200"},
		{"max fields", Collection{Name: "p", Fields: many(MaxFields)}, "", ""},
		{"relation without target", Collection{Name: "p", Fields: []Field{{Name: "a", Type: Relation}}}, "fields[0].collection", "needs the name"},
		{"target on text", Collection{Name: "p", Fields: []Field{{Name: "a", Type: Text, Collection: "x"}}}, "fields[0].collection", "only relation"},
		{"vector without dims", Collection{Name: "p", Fields: []Field{{Name: "a", Type: Vector}}}, "fields[0].dimensions", "1 to 4096"},
		{"vector too long", Collection{Name: "p", Fields: []Field{{Name: "a", Type: Vector, Dimensions: 4097}}}, "fields[0].dimensions", "1 to 4096"},
		{"dims on text", Collection{Name: "p", Fields: []Field{{Name: "a", Type: Text, Dimensions: 2}}}, "fields[0].dimensions", "only vector"},
		{"unique json", Collection{Name: "p", Fields: []Field{{Name: "a", Type: JSON, Unique: true}}}, "fields[0].unique", "json fields cannot be unique"},
		{"unique vector", Collection{Name: "p", Fields: []Field{{Name: "a", Type: Vector, Dimensions: 2, Unique: true}}}, "fields[0].unique", "cannot be unique"},
		{"text default number", Collection{Name: "p", Fields: []Field{{Name: "a", Type: Text, Default: 1.0}}}, "fields[0].default", "must be a string, got a number"},
		{"text default NUL", Collection{Name: "p", Fields: []Field{{Name: "a", Type: Text, Default: "a\x00"}}}, "fields[0].default", "NUL"},
		{"integer default fraction", Collection{Name: "p", Fields: []Field{{Name: "a", Type: Integer, Default: 1.5}}}, "fields[0].default", "whole number"},
		{"integer default too big", Collection{Name: "p", Fields: []Field{{Name: "a", Type: Integer, Default: float64(MaxSafeInteger + 1)}}}, "fields[0].default", "whole number within"},
		{"integer default string", Collection{Name: "p", Fields: []Field{{Name: "a", Type: Integer, Default: "1"}}}, "fields[0].default", "must be a number"},
		{"number default inf", Collection{Name: "p", Fields: []Field{{Name: "a", Type: Number, Default: math.Inf(1)}}}, "fields[0].default", "finite"},
		{"boolean default", Collection{Name: "p", Fields: []Field{{Name: "a", Type: Boolean, Default: "true"}}}, "fields[0].default", "true or false"},
		{"timestamp default", Collection{Name: "p", Fields: []Field{{Name: "a", Type: Timestamp, Default: "yesterday"}}}, "fields[0].default", "RFC 3339"},
		{"json default NUL", Collection{Name: "p", Fields: []Field{{Name: "a", Type: JSON, Default: map[string]any{"k": "\x00"}}}}, "fields[0].default", "NUL"},
		{"json default too big", Collection{Name: "p", Fields: []Field{{Name: "a", Type: JSON, Default: strings.Repeat("x", MaxDefaultBytes)}}}, "fields[0].default", "at most"},
		{"relation default", Collection{Name: "p", Fields: []Field{{Name: "a", Type: Relation, Collection: "p", Default: "x"}}}, "fields[0].default", "cannot have a default"},
		{"index no fields", Collection{Name: "p", Indexes: []Index{{}}}, "indexes[0].fields", "1 to 8"},
		{"index too wide", Collection{Name: "p", Fields: many(9), Indexes: []Index{{Fields: []string{"f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8"}}}}, "indexes[0].fields", "1 to 8"},
		{"index unknown field", Collection{Name: "p", Indexes: []Index{{Fields: []string{"nope"}}}}, "indexes[0].fields[0]", `no field "nope"`},
		{"index twice", Collection{Name: "p", Indexes: []Index{{Fields: []string{"id", "id"}}}}, "indexes[0].fields[1]", "twice"},
		{"index json", Collection{Name: "p", Fields: []Field{{Name: "j", Type: JSON}}, Indexes: []Index{{Fields: []string{"j"}}}}, "indexes[0].fields[0]", "cannot be indexed"},
		{"index duplicate", Collection{Name: "p", Indexes: []Index{{Fields: []string{"created_at"}}, {Fields: []string{"created_at"}}}}, "indexes[1].fields", "already covers"},
		{"index bad name", Collection{Name: "p", Indexes: []Index{{Name: "Bad", Fields: []string{"id"}}}}, "indexes[0].name", "invalid index name"},
		{"too many indexes", Collection{Name: "p", Indexes: make([]Index, MaxIndexes+1)}, "indexes", "at most 32"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := checkDefinition(tc.c)
			if tc.wantField == "" {
				if err != nil {
					t.Fatalf("checkDefinition: %v", err)
				}
				return
			}
			ie, ok := err.(*InputError)
			if !ok {
				t.Fatalf("error %v (%T), want *InputError", err, err)
			}
			if ie.Field != tc.wantField || !strings.Contains(ie.Reason, tc.want) {
				t.Fatalf("error %q, want field %s and %q", ie.Error(), tc.wantField, tc.want)
			}
		})
	}
}

func TestNormalizeDefault(t *testing.T) {
	t.Parallel()
	got, err := normalizeDefault(Timestamp, "2024-05-01T12:00:00.5+02:00")
	if err != nil || got != "2024-05-01T10:00:00.5Z" {
		t.Errorf("timestamp: %v, %v", got, err)
	}
	got, err = normalizeDefault(Integer, 42)
	if err != nil || got != 42.0 {
		t.Errorf("integer: %v, %v", got, err)
	}
	got, err = normalizeDefault(JSON, []int{1, 2})
	if err != nil || fmt.Sprint(got) != "[1 2]" {
		t.Errorf("json: %v, %v", got, err)
	}
}

func TestObjectName(t *testing.T) {
	t.Parallel()
	if got := IndexName("posts", []string{"title", "created_at"}); got != "posts_title_created_at_idx" {
		t.Errorf("short name %q", got)
	}
	long1 := IndexName(strings.Repeat("a", 63), []string{strings.Repeat("b", 63), "c"})
	long2 := IndexName(strings.Repeat("a", 63), []string{strings.Repeat("b", 63), "d"})
	if len(long1) > MaxNameLen || len(long2) > MaxNameLen {
		t.Errorf("names too long: %q %q", long1, long2)
	}
	if long1 == long2 {
		t.Errorf("distinct long names collide: %q", long1)
	}
	if long1 != IndexName(strings.Repeat("a", 63), []string{strings.Repeat("b", 63), "c"}) {
		t.Error("names are not deterministic")
	}
	if !strings.HasSuffix(long1, "_idx") || !namePattern.MatchString(long1) {
		t.Errorf("long name %q", long1)
	}
}

func TestExportSQLFormat(t *testing.T) {
	t.Parallel()
	got := ExportSQL([]Change{
		{ID: 1, Collection: "posts", Kind: ChangeCreate, Description: "create\ncollection posts", SQL: "CREATE TABLE x ();"},
		{ID: 2, Collection: "posts", Kind: ChangeDrop, Description: "drop", SQL: "DROP TABLE x"},
	})
	for _, want := range []string{"BEGIN;\n", "-- #1 ", "create collection posts\nCREATE TABLE x ();\n", "DROP TABLE x;\n", "COMMIT;\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("export lacks %q:\n%s", want, got)
		}
	}
}

package records

import (
	"reflect"
	"strconv"
	"testing"

	"github.com/sovereign-backend/sovereign/dataplane/filter"
	"github.com/sovereign-backend/sovereign/dataplane/schema"
)

func TestFilterCache(t *testing.T) {
	var fc filterCache
	posts := &schema.Collection{Name: "posts", Fields: []schema.Field{{Name: "n", Type: schema.Integer}, {Name: "title", Type: schema.Text}}}
	const expr = `n > 5 && title == "x"`
	env, err := filter.NewEnv(posts)
	if err != nil {
		t.Fatal(err)
	}
	want, err := env.Compile(expr, 0)
	if err != nil {
		t.Fatal(err)
	}
	first, err := fc.compiled(posts, expr)
	if err != nil || !reflect.DeepEqual(first, want) {
		t.Fatalf("compiled = %+v, %v; want %+v", first, err, want)
	}
	// Its arguments are the caller's own: changing them leaves the cache
	// alone.
	first.Args[0] = "changed"
	second, err := fc.compiled(posts, expr)
	if err != nil || !reflect.DeepEqual(second, want) {
		t.Fatalf("after a caller changed its copy: %+v, %v; want %+v", second, err, want)
	}
	if len(fc.m) != 1 {
		t.Fatalf("%d entries after the same filter twice, want 1", len(fc.m))
	}

	// The same text on a changed definition compiles afresh: title is now
	// an integer, so comparing it with a string is an error.
	changed := &schema.Collection{Name: "posts", Fields: []schema.Field{{Name: "n", Type: schema.Integer}, {Name: "title", Type: schema.Integer}}}
	if _, err := fc.compiled(changed, expr); err == nil {
		t.Fatal("a filter that no longer type-checks came from the cache")
	}
	if _, err := fc.compiled(posts, `n >`); err == nil {
		t.Fatal("a bad filter compiled")
	}
	if len(fc.m) != 1 {
		t.Fatalf("%d entries, want 1: bad filters are not kept", len(fc.m))
	}

	// The cache is bounded.
	for i := range filterCacheSize + 10 {
		if _, err := fc.compiled(posts, "n == "+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	if len(fc.m) > filterCacheSize {
		t.Fatalf("%d entries, want at most %d", len(fc.m), filterCacheSize)
	}
}

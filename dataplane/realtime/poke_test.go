package realtime

import (
	"reflect"
	"testing"
)

func TestMergePokesOnePerTenantEachCollectionOnce(t *testing.T) {
	q := make(chan feedPoke, 8)
	for _, p := range []feedPoke{
		{Ref: "b", Collections: []string{"x"}},
		{Ref: "a", Collections: []string{"posts", "tags"}},
		{Ref: "b", Collections: []string{"y", "x"}},
	} {
		q <- p
	}
	first := feedPoke{Ref: "a", Collections: []string{"posts"}}
	got := mergePokes(first, q)
	want := []feedPoke{
		{Ref: "a", Collections: []string{"posts", "tags"}},
		{Ref: "b", Collections: []string{"x", "y"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("mergePokes = %+v, want %+v", got, want)
	}
	if len(q) != 0 {
		t.Fatalf("%d pokes left in the queue, want all taken", len(q))
	}
	if first.Collections[0] != "posts" || len(first.Collections) != 1 {
		t.Fatalf("the first poke was changed: %+v", first)
	}
}

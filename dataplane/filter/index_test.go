package filter_test

import (
	"reflect"
	"testing"
	"time"
)

func TestEqualities(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	ts := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	const u = "0190a0b1-c2d3-7e4f-8a5b-6c7d8e9fa0b1"
	tests := []struct {
		filter string
		want   map[string]any
	}{
		{`title == "x"`, map[string]any{"title": "x"}},
		{`"x" == title`, map[string]any{"title": "x"}},
		{`n == 5 && title == "a" && price == 2`, map[string]any{"n": int64(5), "title": "a", "price": float64(2)}},
		{`(n == 5 && done) && price > 1`, map[string]any{"n": int64(5), "done": true}},
		{`pinned == false`, map[string]any{"pinned": false}},
		{`price == 3.5`, map[string]any{"price": 3.5}},
		{`author == "0190A0B1-C2D3-7E4F-8A5B-6C7D8E9FA0B1"`, map[string]any{"author": u}},
		{`due == timestamp("2024-05-01T12:00:00+02:00")`, map[string]any{"due": ts}},
		{`n == 1 && n == 2`, map[string]any{"n": int64(1)}},
		// Not equalities a record must satisfy.
		{``, nil},
		{`title == "x" || n == 1`, nil},
		{`!(title == "x")`, nil},
		{`title != "x"`, nil},
		{`n == null`, nil},
		{`size(title) == 3`, nil},
		{`n == m`, nil},
		{`n in [1]`, nil},
	}
	for _, tc := range tests {
		src := tc.filter
		if src == "" {
			src = "true"
		}
		p, err := env.Program(src)
		if err != nil {
			t.Fatalf("%s: %v", tc.filter, err)
		}
		got := p.Equalities()
		if len(got) == 0 && len(tc.want) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: Equalities() = %#v, want %#v", tc.filter, got, tc.want)
		}
		// Every record the filter passes carries the equalities' values.
		rec := map[string]any{}
		for k, v := range tc.want {
			rec[k] = v
		}
		for k, v := range got {
			if rec[k] != nil && !reflect.DeepEqual(rec[k], v) {
				t.Errorf("%s: %s = %v, want %v", tc.filter, k, v, rec[k])
			}
		}
	}
}

// A record that passes a filter holds the filter's equality values (the
// property the realtime index relies on); one that differs in such a field
// fails it.
func TestEqualitiesNecessary(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	p, err := env.Program(`title == "a" && n == 3 && (price > 1 || done)`)
	if err != nil {
		t.Fatal(err)
	}
	eq := p.Equalities()
	pass := map[string]any{"title": "a", "n": int64(3), "price": 2.0}
	if ok, err := p.Eval(pass); err != nil || !ok {
		t.Fatalf("Eval(pass) = %v, %v", ok, err)
	}
	for k, v := range eq {
		if !reflect.DeepEqual(pass[k], v) {
			t.Errorf("passing record has %s = %#v, equality says %#v", k, pass[k], v)
		}
		fail := map[string]any{"title": "a", "n": int64(3), "price": 2.0}
		switch v.(type) {
		case string:
			fail[k] = "other"
		case int64:
			fail[k] = int64(99)
		}
		if ok, _ := p.Eval(fail); ok {
			t.Errorf("record with %s changed still passes", k)
		}
	}
}

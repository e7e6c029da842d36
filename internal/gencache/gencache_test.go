package gencache

import (
	"testing"
	"time"
)

func TestGenerationGuardsRacingAnswers(t *testing.T) {
	c := New[string, int](time.Minute, 10)
	now := time.Now()
	c.Put("a", 1, c.Generation(), now)
	if _, ok := c.Get("a", now); ok {
		t.Fatal("cached while not live")
	}
	c.SetLive(true)
	gen := c.Generation()
	c.Invalidate([]string{"other"}, nil)
	c.Put("a", 1, gen, now)
	if _, ok := c.Get("a", now); ok {
		t.Fatal("an answer older than an invalidation was cached")
	}
	c.Put("a", 1, c.Generation(), now)
	if v, ok := c.Get("a", now); !ok || v != 1 {
		t.Fatal("a fresh answer was not cached")
	}
	if _, ok := c.Get("a", now.Add(time.Minute)); ok {
		t.Fatal("kept past its TTL")
	}
	c.Put("b", 2, c.Generation(), now)
	c.Invalidate(nil, func(k string, v int) bool { return v == 2 })
	if _, ok := c.Get("b", now); ok {
		t.Fatal("Invalidate's predicate kept a matching entry")
	}
	c.SetLive(false)
	if c.Live() || c.Len() != 0 {
		t.Fatal("SetLive(false) kept entries")
	}
}

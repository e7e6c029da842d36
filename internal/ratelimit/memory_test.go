package ratelimit_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sovereign-backend/sovereign/internal/ratelimit"
	"github.com/sovereign-backend/sovereign/internal/ratelimit/ratelimittest"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type clocked struct {
	*ratelimit.Memory
	clock *fakeClock
}

func newMemory(cfg ratelimit.MemoryConfig) clocked {
	c := &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	cfg.Now = c.Now
	return clocked{ratelimit.NewMemory(cfg), c}
}

func TestMemoryConformance(t *testing.T) {
	ratelimittest.Run(t, ratelimittest.Harness{
		New: func(t *testing.T) ratelimit.Limiter { return newMemory(ratelimit.MemoryConfig{}) },
		Wait: func(t *testing.T, l ratelimit.Limiter, d time.Duration) {
			l.(clocked).clock.Advance(d)
		},
	})
}

func TestMemoryExact(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := newMemory(ratelimit.MemoryConfig{})
	lim := ratelimit.Limit{Rate: 10, Per: time.Minute, Burst: 3} // one per 6s
	steps := []struct {
		advance    time.Duration
		allowed    bool
		retryAfter time.Duration
		remaining  int
	}{
		{0, true, 0, 2},
		{0, true, 0, 1},
		{0, true, 0, 0},
		{0, false, 6 * time.Second, 0},
		{4 * time.Second, false, 2 * time.Second, 0},
		{2 * time.Second, true, 0, 0},
		{18 * time.Second, true, 0, 2},
	}
	for i, s := range steps {
		m.clock.Advance(s.advance)
		r, err := m.Allow(ctx, "k", lim)
		if err != nil {
			t.Fatal(err)
		}
		if r.Allowed != s.allowed || r.RetryAfter != s.retryAfter || r.Remaining != s.remaining {
			t.Fatalf("step %d: got %+v, want allowed=%v retry=%s remaining=%d", i, r, s.allowed, s.retryAfter, s.remaining)
		}
	}
}

func TestMemoryBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := newMemory(ratelimit.MemoryConfig{MaxKeys: 100, SweepInterval: time.Minute})
	lim := ratelimit.Limit{Rate: 1, Per: time.Second, Burst: 1}
	for i := range 1000 {
		if _, err := m.Allow(ctx, fmt.Sprint(i), lim); err != nil {
			t.Fatal(err)
		}
		if n := m.Len(); n > 100 {
			t.Fatalf("after %d keys, %d tracked; the cap is 100", i+1, n)
		}
	}
	// Once every key is back at full burst, the periodic sweep drops them.
	m.clock.Advance(2 * time.Minute)
	if _, err := m.Allow(ctx, "fresh", lim); err != nil {
		t.Fatal(err)
	}
	if n := m.Len(); n != 1 {
		t.Fatalf("after the sweep, %d keys tracked, want 1", n)
	}
}

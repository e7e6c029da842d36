// Package ratelimittest is the conformance suite every ratelimit.Limiter
// passes; each implementation's tests call Run.
package ratelimittest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sovereign-backend/sovereign/internal/ratelimit"
)

// Harness builds limiters for the suite.
type Harness struct {
	// New returns a limiter isolated from every other one it returns (for
	// Valkey: a fresh key prefix), cleaned up when t ends. Called from
	// parallel subtests.
	New func(t *testing.T) ratelimit.Limiter
	// Wait lets at least d pass on l's clock: time.Sleep for real clocks,
	// advancing a fake one otherwise.
	Wait func(t *testing.T, l ratelimit.Limiter, d time.Duration)
}

// slow is a limit whose interval is far longer than any test, so real time
// passing during a test never frees a request.
var slow = ratelimit.Limit{Rate: 1, Per: time.Hour, Burst: 5}

// Run runs the suite. It asserts counts and computed durations, never how
// fast anything happened.
func Run(t *testing.T, h Harness) {
	t.Helper()
	ctx := context.Background()

	t.Run("BurstThenRefused", func(t *testing.T) {
		t.Parallel()
		l := h.New(t)
		for i := range slow.Burst {
			r := allow(t, l, "k", slow)
			if !r.Allowed || r.RetryAfter != 0 {
				t.Fatalf("request %d: %+v, want allowed", i+1, r)
			}
			if want := slow.Burst - 1 - i; r.Remaining != want {
				t.Fatalf("request %d: remaining %d, want %d", i+1, r.Remaining, want)
			}
		}
		r := allow(t, l, "k", slow)
		if r.Allowed || r.Remaining != 0 {
			t.Fatalf("request %d: %+v, want refused", slow.Burst+1, r)
		}
		// The next request frees one interval (1h) after the burst began.
		if r.RetryAfter <= 0 || r.RetryAfter > time.Hour {
			t.Fatalf("retry after %s, want within (0, 1h]", r.RetryAfter)
		}
	})

	t.Run("RefusedDoesNotCount", func(t *testing.T) {
		t.Parallel()
		l := h.New(t)
		lim := ratelimit.Limit{Rate: 1, Per: 200 * time.Millisecond, Burst: 1}
		if !allow(t, l, "k", lim).Allowed {
			t.Fatal("first request refused")
		}
		for range 20 {
			_ = allow(t, l, "k", lim)
		}
		// Had the refusals counted, the next slot would be seconds away and
		// RetryAfter would exceed one interval; waitUntilAllowed checks it
		// does not.
		waitUntilAllowed(t, h, l, "k", lim)
	})

	t.Run("DefaultBurstIsRate", func(t *testing.T) {
		t.Parallel()
		l := h.New(t)
		lim := ratelimit.Limit{Rate: 3, Per: time.Hour}
		for i := range 3 {
			if !allow(t, l, "k", lim).Allowed {
				t.Fatalf("request %d refused", i+1)
			}
		}
		if allow(t, l, "k", lim).Allowed {
			t.Fatal("request 4 allowed")
		}
	})

	t.Run("KeysAreIndependent", func(t *testing.T) {
		t.Parallel()
		l := h.New(t)
		one := ratelimit.Limit{Rate: 1, Per: time.Hour, Burst: 1}
		if !allow(t, l, "a", one).Allowed || allow(t, l, "a", one).Allowed {
			t.Fatal("key a: want one allowed, then refused")
		}
		if !allow(t, l, "b", one).Allowed {
			t.Fatal("key b refused after key a was used up")
		}
	})

	t.Run("Recovers", func(t *testing.T) {
		t.Parallel()
		l := h.New(t)
		lim := ratelimit.Limit{Rate: 1, Per: 100 * time.Millisecond, Burst: 2}
		for i := 0; allow(t, l, "k", lim).Allowed; i++ {
			if i > 100 {
				t.Fatal("never refused")
			}
		}
		waitUntilAllowed(t, h, l, "k", lim)
	})

	t.Run("Concurrent", func(t *testing.T) {
		t.Parallel()
		l := h.New(t)
		lim := ratelimit.Limit{Rate: 1, Per: time.Hour, Burst: 7}
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			allowed int
		)
		for range 40 {
			wg.Go(func() {
				r, err := l.Allow(ctx, "k", lim)
				if err != nil {
					t.Error(err)
					return
				}
				if r.Allowed {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if allowed != lim.Burst {
			t.Fatalf("%d of 40 concurrent requests allowed, want exactly %d", allowed, lim.Burst)
		}
	})

	t.Run("InvalidLimit", func(t *testing.T) {
		t.Parallel()
		l := h.New(t)
		for _, lim := range []ratelimit.Limit{
			{Rate: 0, Per: time.Second},
			{Rate: 1, Per: 0},
			{Rate: 1, Per: time.Second, Burst: -1},
		} {
			if _, err := l.Allow(ctx, "k", lim); !errors.Is(err, ratelimit.ErrInvalidLimit) {
				t.Errorf("Allow(%+v) error = %v, want ErrInvalidLimit", lim, err)
			}
		}
	})

	t.Run("ManyKeys", func(t *testing.T) {
		t.Parallel()
		l := h.New(t)
		one := ratelimit.Limit{Rate: 1, Per: time.Hour, Burst: 1}
		for i := range 200 {
			if !allow(t, l, fmt.Sprint("key-", i), one).Allowed {
				t.Fatalf("fresh key %d refused", i)
			}
		}
	})
}

func allow(t *testing.T, l ratelimit.Limiter, key string, lim ratelimit.Limit) ratelimit.Result {
	t.Helper()
	r, err := l.Allow(context.Background(), key, lim)
	if err != nil {
		t.Fatalf("Allow(%q): %v", key, err)
	}
	return r
}

// waitUntilAllowed waits as the refusals' RetryAfter says and expects a
// request to pass within a generous number of tries.
func waitUntilAllowed(t *testing.T, h Harness, l ratelimit.Limiter, key string, lim ratelimit.Limit) {
	t.Helper()
	for range 50 {
		r := allow(t, l, key, lim)
		if r.Allowed {
			return
		}
		if r.RetryAfter <= 0 || r.RetryAfter > lim.Per {
			t.Fatalf("refused with retry after %s, want within (0, %s]", r.RetryAfter, lim.Per)
		}
		h.Wait(t, l, r.RetryAfter)
	}
	t.Fatal("still refused after waiting as RetryAfter said, 50 times")
}

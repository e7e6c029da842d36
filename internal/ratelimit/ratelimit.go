// Package ratelimit throttles by key with the generic cell rate algorithm
// (GCRA): a key may spend Limit.Burst requests at once, and then one more
// every Limit.Per / Limit.Rate. Per key it stores a single timestamp, the
// theoretical arrival time (TAT) of the next request, which expires by
// itself once the key is back at full burst.
//
// Two implementations share the algorithm: Valkey (one Lua script, limits
// shared by every node, server time) and Memory (one process, for a node
// without Valkey). Both pass the suite in ratelimittest.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Limit is how fast a key may go.
type Limit struct {
	// Rate is how many requests are allowed per Per, once the burst is
	// spent. Must be at least 1.
	Rate int
	// Per is the period Rate counts over. Must be positive.
	Per time.Duration
	// Burst is how many requests may pass at once from rest. 0 means Rate
	// (the whole period's allowance at once).
	Burst int
}

// Result is the answer to one Allow.
type Result struct {
	// Allowed is whether the request may proceed; a refused request does
	// not count against the key.
	Allowed bool
	// RetryAfter is, for a refused request, how long until one would be
	// allowed; 0 when Allowed.
	RetryAfter time.Duration
	// Remaining is how many more requests would be allowed right now.
	Remaining int
}

// Limiter decides whether a request under key may proceed, and counts it
// when it may. Implementations are safe for concurrent use.
type Limiter interface {
	Allow(ctx context.Context, key string, limit Limit) (Result, error)
}

// ErrInvalidLimit is returned for a Limit with Rate < 1, Per <= 0 or
// Burst < 0.
var ErrInvalidLimit = errors.New("ratelimit: invalid limit")

// Validate returns ErrInvalidLimit (wrapped, naming the values) for a
// limit no Limiter accepts.
func (l Limit) Validate() error {
	_, _, err := l.interval()
	return err
}

// interval returns the emission interval (Per/Rate, at least 1µs) and the
// effective burst, or ErrInvalidLimit.
func (l Limit) interval() (time.Duration, int, error) {
	if l.Rate < 1 || l.Per <= 0 || l.Burst < 0 {
		return 0, 0, fmt.Errorf("%w: rate %d per %s, burst %d", ErrInvalidLimit, l.Rate, l.Per, l.Burst)
	}
	burst := l.Burst
	if burst == 0 {
		burst = l.Rate
	}
	iv := max(l.Per/time.Duration(l.Rate), time.Microsecond)
	return iv.Truncate(time.Microsecond), burst, nil
}

// gcra is the algorithm both implementations run: given the stored TAT (zero
// for none) and now, it returns the result and the TAT to store when the
// request is allowed.
func gcra(tat, now time.Time, iv time.Duration, burst int) (Result, time.Time) {
	if tat.Before(now) {
		tat = now
	}
	newTAT := tat.Add(iv)
	allowAt := newTAT.Add(-time.Duration(burst) * iv)
	if now.Before(allowAt) {
		return Result{Allowed: false, RetryAfter: allowAt.Sub(now)}, time.Time{}
	}
	return Result{Allowed: true, Remaining: int(now.Sub(allowAt) / iv)}, newTAT
}

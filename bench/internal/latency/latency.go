// Package latency summarizes the latencies the benchmarks under bench/
// record: every sample is kept, and percentiles are read from the sorted
// samples (nearest rank), so they are exact.
package latency

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Summary holds nearest-rank percentiles, the largest sample and the mean.
type Summary struct {
	P50, P90, P99, Max, Mean time.Duration
}

// Summarize summarizes d, which it leaves as it is; the zero Summary when d
// is empty.
func Summarize(d []time.Duration) Summary {
	if len(d) == 0 {
		return Summary{}
	}
	s := slices.Clone(d)
	slices.Sort(s)
	rank := func(p float64) time.Duration {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		return s[min(max(i, 0), len(s)-1)]
	}
	var sum time.Duration
	for _, x := range s {
		sum += x
	}
	return Summary{P50: rank(0.50), P90: rank(0.90), P99: rank(0.99), Max: s[len(s)-1], Mean: sum / time.Duration(len(s))}
}

// MS formats d in milliseconds with the given number of decimals.
func MS(d time.Duration, decimals int) string {
	return fmt.Sprintf("%.*f", decimals, float64(d)/float64(time.Millisecond))
}

// Ratio is a / b, or +Inf when b is not positive.
func Ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return math.Inf(1)
	}
	return float64(a) / float64(b)
}

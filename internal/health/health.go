// Package health probes the dependencies a server needs (PostgreSQL, Valkey)
// and answers the readiness endpoint with the outcome.
package health

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"
)

// Check is one named dependency probe.
type Check struct {
	// Name of the dependency, e.g. "postgres" or "valkey".
	Name string
	// Probe returns nil when the dependency answers. Its error text is shown
	// to callers of /readyz, so it must never carry credentials.
	Probe func(ctx context.Context) error
}

// Result is the outcome of one Check.
type Result struct {
	Name    string        `json:"name"`
	OK      bool          `json:"ok"`
	Reason  string        `json:"reason,omitempty"`
	Latency time.Duration `json:"-"`
}

// Checker runs a fixed list of checks concurrently, each bounded by Timeout.
type Checker struct {
	checks  []Check
	timeout time.Duration
}

// DefaultTimeout bounds each probe when NewChecker is given 0.
const DefaultTimeout = 2 * time.Second

// NewChecker returns a Checker over checks; timeout bounds each probe
// (0 means DefaultTimeout).
func NewChecker(timeout time.Duration, checks ...Check) *Checker {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Checker{checks: checks, timeout: timeout}
}

// Run probes every dependency and returns the results in the order the checks
// were given.
func (c *Checker) Run(ctx context.Context) []Result {
	out := make([]Result, len(c.checks))
	var wg sync.WaitGroup
	for i, ch := range c.checks {
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, c.timeout)
			defer cancel()
			start := time.Now()
			err := ch.Probe(pctx)
			r := Result{Name: ch.Name, OK: err == nil, Latency: time.Since(start)}
			if err != nil {
				r.Reason = err.Error()
				if pctx.Err() != nil && ctx.Err() == nil {
					r.Reason = "no answer within " + c.timeout.String() + ": " + r.Reason
				}
			}
			out[i] = r
		})
	}
	wg.Wait()
	return out
}

// Ready reports whether every result is OK.
func Ready(results []Result) bool {
	for _, r := range results {
		if !r.OK {
			return false
		}
	}
	return true
}

// ReadyHandler serves /readyz: 200 with {"status":"ready"} when every check
// passes, 503 with {"status":"unavailable","checks":[…]} naming each failing
// dependency and why otherwise.
func (c *Checker) ReadyHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		results := c.Run(r.Context())
		body := struct {
			Status string   `json:"status"`
			Checks []Result `json:"checks"`
		}{Status: "ready", Checks: results}
		code := http.StatusOK
		if !Ready(results) {
			body.Status, code = "unavailable", http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(body)
	})
}

// LiveHandler serves /healthz: 200 while the process can answer HTTP at all.
// It probes nothing, so a database outage never gets a healthy process killed.
func LiveHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
}

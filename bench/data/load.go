package main

import (
	"context"
	"sync"
	"time"
)

// opTimeout bounds one request, so that a stuck one ends the run's wait
// rather than hanging it.
const opTimeout = 30 * time.Second

// maxErrors is how many error messages a run keeps to print.
const maxErrors = 5

// load is how a workload is driven: concurrency workers, each sending one
// request after another, first for warmup (not measured), then for
// duration.
type load struct {
	concurrency      int
	warmup, duration time.Duration
}

// result is what one run measured.
type result struct {
	// latencies of the successful requests started in the measured window.
	latencies []time.Duration
	// requests counts those started in the measured window; errors, those
	// of them that failed.
	requests, errors int
	// warmupErrors counts the requests of the warm-up that failed.
	warmupErrors int
	// elapsed runs from the start of the measured window until the last
	// request started in it finished.
	elapsed time.Duration
	// firstErrors are the messages of the first few errors, warm-up
	// included.
	firstErrors []string
}

// rps is successful requests per second of the measured window.
func (r result) rps() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(len(r.latencies)) / r.elapsed.Seconds()
}

// run drives do under l and returns what it measured. Every request gets a
// context that ends after opTimeout; each worker keeps its latencies in its
// own slice, and they are merged at the end.
func (l load) run(ctx context.Context, do func(context.Context) error) result {
	type worker struct {
		lat                      []time.Duration
		requests, errors, warmup int
		finished                 time.Time
	}
	var (
		mu     sync.Mutex
		res    result
		wg     sync.WaitGroup
		start  = time.Now()
		from   = start.Add(l.warmup)
		end    = from.Add(l.duration)
		perCap = 1024
		ws     = make([]worker, l.concurrency)
	)
	for i := range ws {
		w := &ws[i]
		w.lat = make([]time.Duration, 0, perCap)
		wg.Go(func() {
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(end) {
					break
				}
				rctx, cancel := context.WithTimeout(ctx, opTimeout)
				err := do(rctx)
				cancel()
				t1 := time.Now()
				if err != nil {
					mu.Lock()
					if len(res.firstErrors) < maxErrors {
						res.firstErrors = append(res.firstErrors, err.Error())
					}
					mu.Unlock()
				}
				if t0.Before(from) {
					if err != nil {
						w.warmup++
					}
					continue
				}
				w.requests++
				w.finished = t1
				if err != nil {
					w.errors++
					continue
				}
				w.lat = append(w.lat, t1.Sub(t0))
			}
		})
	}
	wg.Wait()
	last := from
	n := 0
	for _, w := range ws {
		n += len(w.lat)
	}
	res.latencies = make([]time.Duration, 0, n)
	for _, w := range ws {
		res.latencies = append(res.latencies, w.lat...)
		res.requests += w.requests
		res.errors += w.errors
		res.warmupErrors += w.warmup
		if w.finished.After(last) {
			last = w.finished
		}
	}
	res.elapsed = last.Sub(from)
	return res
}

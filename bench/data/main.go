// Command bench-data measures the data plane's record API under load,
// against a baseline measured in the same run: the same SQL sent through pgx
// directly with a pool of the data plane's size.
//
// It signs up a fresh account (or uses --token), makes a project with a
// secret key, creates the collection "items" (title text, n integer with an
// index, owner text) and loads --records records (n = 0, 1, …) in batches of
// 1,000. Then, at each --concurrency, it runs three workloads for --warmup
// (not measured) and then --duration each:
//
//   - get: GET /v1/collections/items/records/{id} of a random loaded record;
//   - list: GET /v1/collections/items/records?filter=n > X && n < X+100
//     &limit=20&sort=n for a random X (99 records match; a page of 20);
//   - create: POST /v1/collections/items/records with a new record.
//
// The platform is called over REST with plain net/http, one keep-alive
// connection per worker. Each workload then runs twice more against the
// database, with the same concurrency on a pgxpool of --pool-size
// connections (the data plane's default pool size, max(4, CPUs)):
//
//   - pgx raw: the statement the data plane runs, alone (autocommit);
//   - pgx tenant: the same statement through dataplane/tenantdb, as the data
//     plane runs it: in a transaction as the tenant's role, with BEGIN and
//     the identity's set_config batch in the same round trip.
//
// Every latency is kept and percentiles are nearest-rank over all of them.
// Any failed request (a non-2xx answer, a transport error, a wrong row
// count) is counted, the first few are printed, and the command exits 1:
// `make bench-smoke` relies on that, and on nothing about timings.
//
// `make bench-data` runs it against a private platform; see BENCHMARKS.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sovereign-backend/sovereign/bench/internal/latency"
	"github.com/sovereign-backend/sovereign/bench/internal/setup"
	"github.com/sovereign-backend/sovereign/dataplane/tenantdb"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

const (
	// collection is the collection the workloads use.
	collection = "items"
	// listLimit is the list workload's page size; listSpan the width of its
	// filter's range of n.
	listLimit = 20
	listSpan  = 100
	// loadBatch is how many records one batch loads (the batch limit).
	loadBatch = sovereign.MaxBatchOps
)

// The workloads, in the order they run by default.
const (
	wGet    = "get by id"
	wList   = "list 20, filtered"
	wCreate = "create"
)

// The ways a workload is run.
const (
	pPlatform = "platform (REST)"
	pTenant   = "pgx tenant tx"
	pRaw      = "pgx raw"
)

type config struct {
	apiURL, dataURL, databaseURL string
	token, region                string
	records                      int
	concurrency                  []int
	workloads                    []string
	duration, warmup             time.Duration
	poolSize                     int
	timeout                      time.Duration
	cleanup                      bool
}

func main() {
	c := config{concurrency: []int{32, 128}, workloads: []string{wGet, wList, wCreate}}
	flag.StringVar(&c.apiURL, "api-url", setup.DefaultAPIURL(), "control plane URL (default $"+setup.EnvAPIURL+", else the dev one)")
	flag.StringVar(&c.dataURL, "data-url", setup.DefaultDataURL(), "data plane URL (default $"+setup.EnvDataURL+", else the dev one)")
	flag.StringVar(&c.databaseURL, "database-url", setup.DefaultDatabaseURL(), "PostgreSQL URL of the data plane's database, as its pool's user, for the baseline (default: $"+setup.EnvDatabaseURL+" with the database "+setup.PlatformDB+")")
	flag.StringVar(&c.token, "token", "", "access or personal access token to use instead of signing up a fresh account")
	flag.StringVar(&c.region, "region", "local", "region to create the project in")
	flag.IntVar(&c.records, "records", 10_000, "records to load before the workloads (at least "+strconv.Itoa(listSpan)+")")
	flag.Func("concurrency", "comma-separated numbers of concurrent connections, one round of workloads each (default 32,128)", func(s string) error {
		var cs []int
		for f := range strings.SplitSeq(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 || n > 4096 {
				return fmt.Errorf("want numbers from 1 to 4096, got %q", f)
			}
			cs = append(cs, n)
		}
		c.concurrency = cs
		return nil
	})
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "measured time of each workload, per way and concurrency")
	flag.DurationVar(&c.warmup, "warmup", 2*time.Second, "unmeasured time before each measurement")
	flag.IntVar(&c.poolSize, "pool-size", max(4, runtime.NumCPU()), "baseline pgxpool size: the data plane's pool size (pgxpool's default max(4, CPUs), or its --db-max-conns)")
	flag.DurationVar(&c.timeout, "timeout", 2*time.Minute, "longest wait for the project to become active")
	flag.BoolVar(&c.cleanup, "cleanup", true, "delete the project and organization made (their data is purged after the platform's retention)")
	flag.Func("workloads", "comma-separated workloads to run: get, list, create (default all)", func(s string) error {
		byName := map[string]string{"get": wGet, "list": wList, "create": wCreate}
		var ws []string
		for f := range strings.SplitSeq(s, ",") {
			w, ok := byName[strings.TrimSpace(f)]
			if !ok {
				return fmt.Errorf("want get, list or create, got %q", f)
			}
			ws = append(ws, w)
		}
		c.workloads = ws
		return nil
	})
	smoke := flag.Bool("smoke", false, "a quick check that every request succeeds, for CI: --records 200 --concurrency 4 --duration 1s --warmup 200ms, unless given")
	flag.Parse()
	if *smoke {
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for name, v := range map[string]string{"records": "200", "concurrency": "4", "duration": "1s", "warmup": "200ms"} {
			if !set[name] {
				_ = flag.Set(name, v)
			}
		}
	}
	switch {
	case c.records < listSpan:
		usage("--records must be at least %d", listSpan)
	case c.duration <= 0 || c.warmup < 0:
		usage("--duration must be positive and --warmup not negative")
	case c.poolSize < 1:
		usage("--pool-size must be at least 1")
	case c.databaseURL == "":
		usage("give --database-url (the data plane's database) for the baseline, or run under `make bench-data`")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	failed, err := run(ctx, c, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-data:", err)
		os.Exit(1)
	}
	if failed > 0 {
		fmt.Fprintf(os.Stderr, "bench-data: %d requests failed\n", failed)
		os.Exit(1)
	}
}

func usage(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench-data: "+format+"\n", args...)
	os.Exit(2)
}

// run sets up the project and its records, runs every workload and prints
// the results. It returns how many requests failed.
func run(ctx context.Context, c config, out io.Writer) (failed int, err error) {
	pcfg, err := pgxpool.ParseConfig(c.databaseURL)
	if err != nil {
		return 0, fmt.Errorf("parse --database-url: %w", err)
	}
	pcfg.MaxConns = int32(c.poolSize)
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return 0, fmt.Errorf("open the baseline pool: %w", err)
	}
	defer pool.Close()
	var pgVersion string
	if err := pool.QueryRow(ctx, "SHOW server_version").Scan(&pgVersion); err != nil {
		return 0, fmt.Errorf("connect to the database: %w", err)
	}

	org, err := setup.NewOrg(ctx, c.apiURL, c.token)
	if err != nil {
		return 0, err
	}
	if c.cleanup {
		defer func() {
			err = errors.Join(err, org.Cleanup(context.WithoutCancel(ctx)))
		}()
	}
	p, err := org.NewProject(ctx, "bench-data", c.region, c.dataURL, c.timeout)
	if err != nil {
		return 0, err
	}
	loadStart := time.Now()
	d, err := loadRecords(ctx, sovereign.NewClient(c.dataURL, sovereign.WithAPIKey(p.Secret)), c.records)
	if err != nil {
		return 0, err
	}
	loadTime := time.Since(loadStart)
	// Autovacuum would analyze the table during the run, and the list
	// query's plan could change under it; analyze it now, once.
	if _, err := pool.Exec(ctx, "ANALYZE "+tenantdb.Table(p.Ref, collection)); err != nil {
		return 0, fmt.Errorf("analyze: %w", err)
	}
	base := newBaseline(pool, p.Ref, p.KeyID)

	fmt.Fprintf(out, "bench-data: %s, project %s, PostgreSQL %s, %d CPUs (client, platform and database share them)\n",
		c.dataURL, p.Ref, pgVersion, runtime.NumCPU())
	fmt.Fprintf(out, "load average before the workloads: %s\n", loadAvg())
	fmt.Fprintf(out, "loaded %d records in %s (batches of %d); each run: %s warm-up, %s measured; baseline pool %d connections\n",
		c.records, loadTime.Round(time.Millisecond), loadBatch, c.warmup, c.duration, c.poolSize)

	var errs []string
	for _, conc := range c.concurrency {
		rest := newRESTClient(c.dataURL, p.Secret, conc)
		if err := rest.check(ctx, d); err != nil {
			return 0, fmt.Errorf("check the REST answers: %w", err)
		}
		ways := map[string]map[string]func(context.Context) error{
			pPlatform: rest.workloads(d),
			pTenant:   base.workloads(d, true),
			pRaw:      base.workloads(d, false),
		}
		l := load{concurrency: conc, warmup: c.warmup, duration: c.duration}
		results := map[string]map[string]result{}
		for _, w := range c.workloads {
			results[w] = map[string]result{}
			for _, way := range []string{pPlatform, pTenant, pRaw} {
				r := l.run(ctx, ways[way][w])
				if ctx.Err() != nil {
					return failed, ctx.Err()
				}
				results[w][way] = r
				failed += r.errors + r.warmupErrors
				for _, e := range r.firstErrors {
					errs = append(errs, fmt.Sprintf("%s, %s, %d connections: %s", w, way, conc, e))
				}
			}
		}
		rest.close()
		if err := report(out, conc, c.workloads, results); err != nil {
			return failed, err
		}
	}
	fmt.Fprintln(out, "\n(latencies in milliseconds, nearest-rank percentiles over every measured request; rps counts successful requests)")
	if len(errs) > 0 {
		fmt.Fprintln(out, "\nfirst errors:")
		for _, e := range errs[:min(len(errs), 3*maxErrors)] {
			fmt.Fprintln(out, "  "+e)
		}
	}
	return failed, nil
}

// loadRecords creates the collection and n records through the SDK.
func loadRecords(ctx context.Context, dc *sovereign.Client, n int) (*dataset, error) {
	_, err := dc.Collections().Create(ctx, sovereign.CollectionSpec{
		Name: collection,
		Fields: []sovereign.Field{
			{Name: "title", Type: sovereign.FieldText},
			{Name: "n", Type: sovereign.FieldInteger},
			{Name: "owner", Type: sovereign.FieldText},
		},
		Indexes: []sovereign.Index{{Fields: []string{"n"}}},
	})
	if err != nil {
		return nil, fmt.Errorf("create collection %s: %w", collection, err)
	}
	d := &dataset{ids: make([]string, 0, n)}
	for i := 0; i < n; i += loadBatch {
		b := dc.Batch()
		for j := i; j < min(i+loadBatch, n); j++ {
			b.Create(collection, map[string]any{
				"title": fmt.Sprintf("item %d", j),
				"n":     j,
				"owner": fmt.Sprintf("owner-%02d", j%50),
			})
		}
		res, err := b.Run(ctx)
		if err != nil {
			return nil, fmt.Errorf("load records %d to %d: %w", i, i+b.Len()-1, err)
		}
		for _, r := range res {
			id, _ := r.Record[sovereign.FieldID].(string)
			if id == "" {
				return nil, fmt.Errorf("load records: a batch result without an id")
			}
			d.ids = append(d.ids, id)
		}
	}
	return d, nil
}

// report prints one concurrency's table and the ratios of the platform to
// each baseline.
func report(out io.Writer, conc int, workloads []string, results map[string]map[string]result) error {
	fmt.Fprintf(out, "\n%d connections\n", conc)
	tw := tabwriter.NewWriter(out, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, "workload\tway\trequests\trps\tp50\tp90\tp99\tmax\terrors\t")
	for _, w := range workloads {
		for _, way := range []string{pPlatform, pTenant, pRaw} {
			r := results[w][way]
			s := latency.Summarize(r.latencies)
			fmt.Fprintf(tw, "%s\t%s\t%d\t%.0f\t%s\t%s\t%s\t%s\t%d\t\n", w, way, r.requests, r.rps(),
				ms(s.P50), ms(s.P90), ms(s.P99), ms(s.Max), r.errors+r.warmupErrors)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	tw = tabwriter.NewWriter(out, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, "workload\tplatform/raw rps\tplatform/raw p99\tplatform/tenant rps\tplatform/tenant p99\ttenant/raw rps\ttenant/raw p99\t")
	for _, w := range workloads {
		p, t, r := results[w][pPlatform], results[w][pTenant], results[w][pRaw]
		ps, ts, rs := latency.Summarize(p.latencies), latency.Summarize(t.latencies), latency.Summarize(r.latencies)
		fmt.Fprintf(tw, "%s\t%.2f\t%.1f×\t%.2f\t%.1f×\t%.2f\t%.1f×\t\n", w,
			div(p.rps(), r.rps()), latency.Ratio(ps.P99, rs.P99),
			div(p.rps(), t.rps()), latency.Ratio(ps.P99, ts.P99),
			div(t.rps(), r.rps()), latency.Ratio(ts.P99, rs.P99))
	}
	return tw.Flush()
}

// loadAvg is the machine's load averages over 1, 5 and 15 minutes, where
// /proc/loadavg tells them: other work running before the benchmark shows
// there, and would skew the figures.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func ms(d time.Duration) string { return latency.MS(d, 2) }

func div(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

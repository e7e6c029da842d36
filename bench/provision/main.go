// Command bench-provision measures how long a running platform takes to
// provision projects, against a baseline measured in the same run: the bare
// SQL a data plane runs to provision a tenant, executed directly with pgx on
// the same database.
//
// It signs up a fresh account (or uses --token), creates an organization,
// then creates --n projects one after another. For each it times
//
//   - create → active: from CreateProject until WaitProjectActive returns the
//     project ACTIVE, which is what a customer waits for;
//   - key → first call: from CreateAPIKey (secret) until that key first
//     authenticates a data-plane call (CurrentProject);
//
// and, when it can read the control plane's River tables (--database-url),
// splits the provisioning job into its wait in the queue (created →
// attempted) and its work (attempted → finalized: the data plane's
// ProvisionTenant call and the key push).
//
// The baseline runs the statements of dataplane/tenants.Provision that do the
// work (CREATE ROLE … NOLOGIN, GRANT … TO CURRENT_USER, CREATE SCHEMA …
// AUTHORIZATION …, REVOKE ALL ON SCHEMA … FROM PUBLIC, and an insert into a
// copy of dataplane.tenants) in one transaction, --n times with fresh random
// names, and drops everything it made afterwards.
//
// `make bench-provision` runs it against a private platform; see
// BENCHMARKS.md.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sovereign-backend/sovereign/bench/internal/latency"
	"github.com/sovereign-backend/sovereign/bench/internal/setup"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

type config struct {
	apiURL, dataURL, databaseURL string
	token, region                string
	n                            int
	timeout                      time.Duration
	cleanup                      bool
}

func main() {
	var c config
	flag.StringVar(&c.apiURL, "api-url", setup.DefaultAPIURL(), "control plane URL (default $"+setup.EnvAPIURL+", else the dev one)")
	flag.StringVar(&c.dataURL, "data-url", setup.DefaultDataURL(), "data plane URL (default $"+setup.EnvDataURL+", else the dev one)")
	flag.StringVar(&c.databaseURL, "database-url", setup.DefaultDatabaseURL(), "PostgreSQL URL of the platform's database, for the baseline and the job breakdown (default: $"+setup.EnvDatabaseURL+" with the database "+setup.PlatformDB+")")
	flag.StringVar(&c.token, "token", "", "access or personal access token to use instead of signing up a fresh account")
	flag.StringVar(&c.region, "region", "local", "region to create the projects in")
	flag.IntVar(&c.n, "n", 50, "how many projects (and baseline tenants) to create")
	flag.DurationVar(&c.timeout, "timeout", 2*time.Minute, "longest wait for one project to become active")
	flag.BoolVar(&c.cleanup, "cleanup", true, "delete the projects made (their data is purged after the platform's retention)")
	flag.Parse()
	if c.n < 1 {
		fmt.Fprintln(os.Stderr, "bench-provision: --n must be at least 1")
		os.Exit(2)
	}
	if c.databaseURL == "" {
		fmt.Fprintln(os.Stderr, "bench-provision: give --database-url (the platform's database) for the baseline, or run under `make bench-provision`")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, c, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench-provision:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c config, out io.Writer) error {
	conn, err := pgx.Connect(ctx, c.databaseURL)
	if err != nil {
		return fmt.Errorf("connect to the database: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var pgVersion string
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&pgVersion); err != nil {
		return fmt.Errorf("server version: %w", err)
	}

	plat, err := benchPlatform(ctx, c, conn)
	if err != nil {
		return err
	}
	base, err := benchBaseline(ctx, conn, c.n)
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}

	fmt.Fprintf(out, "bench-provision: %d projects in region %s of %s, PostgreSQL %s\n\n", c.n, c.region, c.apiURL, pgVersion)
	tw := tabwriter.NewWriter(out, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, "measure\tn\tp50\tp90\tp99\tmax\tmean\t")
	row := func(name string, d []time.Duration) {
		if len(d) == 0 {
			fmt.Fprintf(tw, "%s\t0\t\t\t\t\t\t\n", name)
			return
		}
		s := latency.Summarize(d)
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t\n", name, len(d), ms(s.P50), ms(s.P90), ms(s.P99), ms(s.Max), ms(s.Mean))
	}
	row("platform: create → active (WaitProjectActive)", plat.active)
	row("  job wait in queue (created → attempted)", plat.queued)
	row("  job work (attempted → finalized)", plat.worked)
	row("  job done (created → finalized)", plat.jobDone)
	row("  the rest: RPCs and WaitProjectActive's polling", plat.pollLag)
	row("platform: key created → first data-plane call", plat.keyFirst)
	row("platform: create → key authenticates", plat.total)
	row("baseline: raw pgx provisioning transaction", base)
	if err := tw.Flush(); err != nil {
		return err
	}
	ps, bs := latency.Summarize(plat.active), latency.Summarize(base)
	fmt.Fprintf(out, "\nratio create → active / baseline: p50 %.0f×, p90 %.0f×, p99 %.0f×, mean %.0f×\n",
		latency.Ratio(ps.P50, bs.P50), latency.Ratio(ps.P90, bs.P90), latency.Ratio(ps.P99, bs.P99), latency.Ratio(ps.Mean, bs.Mean))
	note := "times in milliseconds; percentiles are nearest-rank"
	if c.n < 100 {
		note += fmt.Sprintf(", so p99 of %d samples is the largest", c.n)
	}
	fmt.Fprintf(out, "(%s)\n", note)
	return nil
}

type platformResult struct {
	active, queued, worked, jobDone, pollLag, keyFirst, total []time.Duration
}

func benchPlatform(ctx context.Context, c config, conn *pgx.Conn) (platformResult, error) {
	var res platformResult
	org, err := setup.NewOrg(ctx, c.apiURL, c.token)
	if err != nil {
		return res, err
	}
	if c.cleanup {
		defer func() {
			if err := org.Cleanup(context.WithoutCancel(ctx)); err != nil {
				fmt.Fprintf(os.Stderr, "bench-provision: %v\n", err)
			}
		}()
	}
	mc := org.Client
	var ids []string
	for i := range c.n {
		start := time.Now()
		p, err := org.CreateProject(ctx, fmt.Sprintf("bench-%03d", i), c.region)
		if err != nil {
			return res, err
		}
		wctx, cancel := context.WithTimeout(ctx, c.timeout)
		p, err = mc.WaitProjectActive(wctx, p.ID)
		cancel()
		if err != nil {
			return res, fmt.Errorf("project %d: %w", i, err)
		}
		active := time.Since(start)
		res.active = append(res.active, active)
		ids = append(ids, p.ID)

		keyStart := time.Now()
		_, secret, err := mc.CreateAPIKey(ctx, sovereign.CreateAPIKeyParams{ProjectID: p.ID, Name: "bench", Kind: sovereign.KeySecret})
		if err != nil {
			return res, fmt.Errorf("create key for project %d: %w", i, err)
		}
		if err := setup.WaitKey(ctx, c.dataURL, secret, c.timeout); err != nil {
			return res, fmt.Errorf("project %d: %w", i, err)
		}
		res.keyFirst = append(res.keyFirst, time.Since(keyStart))
		res.total = append(res.total, time.Since(start))
	}
	// River marks a job completed a moment after its work returns, so the
	// breakdown is read once every project is done.
	for i, id := range ids {
		q, w, err := jobTimes(ctx, conn, id)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench-provision: no job breakdown (%v)\n", err)
			res.queued, res.worked, res.jobDone, res.pollLag = nil, nil, nil, nil
			break
		}
		res.queued, res.worked = append(res.queued, q), append(res.worked, w)
		res.jobDone = append(res.jobDone, q+w)
		res.pollLag = append(res.pollLag, max(res.active[i]-q-w, 0))
	}
	return res, nil
}

// jobTimes reads the project's provisioning job from River's table: how long
// it waited in the queue and how long its attempt worked. It waits a few
// seconds for River to record the job completed.
func jobTimes(ctx context.Context, conn *pgx.Conn, projectID string) (queued, worked time.Duration, err error) {
	var created, attempted, finalized time.Time
	for try := 0; ; try++ {
		err = conn.QueryRow(ctx, `
SELECT created_at, attempted_at, finalized_at FROM controlplane_river.river_job
WHERE kind = 'provision_project' AND args->>'project_id' = $1 AND state = 'completed'
ORDER BY id LIMIT 1`, projectID).Scan(&created, &attempted, &finalized)
		if !errors.Is(err, pgx.ErrNoRows) || try == 50 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("read the provisioning job of project %s: %w", projectID, err)
	}
	return attempted.Sub(created), finalized.Sub(attempted), nil
}

// benchBaseline times the provisioning transaction n times on conn, in a
// scratch schema holding a copy of dataplane.tenants, and drops every role
// and schema it made.
func benchBaseline(ctx context.Context, conn *pgx.Conn, n int) (_ []time.Duration, err error) {
	scratch := "bench_provision_" + strings.ToLower(rand.Text()[:8])
	table := pgx.Identifier{scratch, "tenants"}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{scratch}.Sanitize()); err != nil {
		return nil, fmt.Errorf("create scratch schema: %w", err)
	}
	var names []string
	defer func() {
		cctx := context.WithoutCancel(ctx)
		for _, name := range names {
			id := pgx.Identifier{name}.Sanitize()
			if _, cerr := conn.Exec(cctx, "DROP SCHEMA IF EXISTS "+id+" CASCADE"); cerr != nil {
				err = errors.Join(err, cerr)
			}
			if _, cerr := conn.Exec(cctx, "DROP ROLE IF EXISTS "+id); cerr != nil {
				err = errors.Join(err, cerr)
			}
		}
		if _, cerr := conn.Exec(cctx, "DROP SCHEMA "+pgx.Identifier{scratch}.Sanitize()+" CASCADE"); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	// The same columns, checks and indexes as the data plane's table.
	if _, err := conn.Exec(ctx, "CREATE TABLE "+table+" (LIKE dataplane.tenants INCLUDING ALL)"); err != nil {
		return nil, fmt.Errorf("copy dataplane.tenants (is --database-url the platform's database?): %w", err)
	}
	out := make([]time.Duration, 0, n)
	for range n {
		ref := strings.ToLower(rand.Text()[:12])
		name := "t_" + ref
		id := pgx.Identifier{name}.Sanitize()
		names = append(names, name)
		start := time.Now()
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			for _, q := range []string{
				"CREATE ROLE " + id + " NOLOGIN",
				"GRANT " + id + " TO CURRENT_USER",
				"CREATE SCHEMA " + id + " AUTHORIZATION " + id,
				"REVOKE ALL ON SCHEMA " + id + " FROM PUBLIC",
			} {
				if _, err := tx.Exec(ctx, q); err != nil {
					return fmt.Errorf("%s: %w", q, err)
				}
			}
			_, err := tx.Exec(ctx, "INSERT INTO "+table+" (ref, schema_name, state, limits) VALUES ($1, $2, 'active', $3)",
				ref, name, `{"plan":"free"}`)
			return err
		})
		if err != nil {
			return nil, err
		}
		out = append(out, time.Since(start))
	}
	return out, nil
}

func ms(d time.Duration) string { return latency.MS(d, 1) }

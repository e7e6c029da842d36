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
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"

	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// What `sovereign test-services --platform` exports, and the database its
// planes use on the server SOVEREIGN_TEST_DATABASE_URL points at.
const (
	envAPIURL      = "SOVEREIGN_TEST_API_URL"
	envDataURL     = "SOVEREIGN_TEST_DATA_URL"
	envDatabaseURL = "SOVEREIGN_TEST_DATABASE_URL"
	platformDB     = "sovereign_platform_test"
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
	flag.StringVar(&c.apiURL, "api-url", cmp.Or(os.Getenv(envAPIURL), "http://127.0.0.1:7070"), "control plane URL (default $"+envAPIURL+", else the dev one)")
	flag.StringVar(&c.dataURL, "data-url", cmp.Or(os.Getenv(envDataURL), "http://127.0.0.1:7071"), "data plane URL (default $"+envDataURL+", else the dev one)")
	flag.StringVar(&c.databaseURL, "database-url", defaultDatabaseURL(), "PostgreSQL URL of the platform's database, for the baseline and the job breakdown (default: $"+envDatabaseURL+" with the database "+platformDB+")")
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

// defaultDatabaseURL is the platform database on the server of
// SOVEREIGN_TEST_DATABASE_URL, as `sovereign test-services --platform` sets
// it up.
func defaultDatabaseURL() string {
	raw := os.Getenv(envDatabaseURL)
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	u.Path = "/" + platformDB
	return u.String()
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
		s := summarize(d)
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t\n", name, len(d), ms(s.p50), ms(s.p90), ms(s.p99), ms(s.max), ms(s.mean))
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
	ps, bs := summarize(plat.active), summarize(base)
	fmt.Fprintf(out, "\nratio create → active / baseline: p50 %.0f×, p90 %.0f×, p99 %.0f×, mean %.0f×\n",
		ratio(ps.p50, bs.p50), ratio(ps.p90, bs.p90), ratio(ps.p99, bs.p99), ratio(ps.mean, bs.mean))
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
	token := c.token
	if token == "" {
		email := fmt.Sprintf("bench-%d@example.com", time.Now().UnixNano())
		sess, err := sovereign.NewManagementClient(c.apiURL).Signup(ctx, email, "bench-"+rand.Text())
		if err != nil {
			return res, fmt.Errorf("sign up: %w", err)
		}
		token = sess.AccessToken
	}
	mc := sovereign.NewManagementClient(c.apiURL, sovereign.WithToken(token))
	org, err := mc.CreateOrganization(ctx, fmt.Sprintf("bench-%d", time.Now().Unix()))
	if err != nil {
		return res, fmt.Errorf("create organization: %w", err)
	}
	var made []string
	if c.cleanup {
		defer func() {
			cctx := context.WithoutCancel(ctx)
			for _, id := range made {
				if _, err := mc.DeleteProject(cctx, id); err != nil {
					fmt.Fprintf(os.Stderr, "bench-provision: delete project %s: %v\n", id, err)
				}
			}
			if err := mc.DeleteOrganization(cctx, org.ID); err != nil {
				fmt.Fprintf(os.Stderr, "bench-provision: delete organization %s: %v\n", org.ID, err)
			}
		}()
	}
	var ids []string
	for i := range c.n {
		start := time.Now()
		p, err := mc.CreateProject(ctx, sovereign.CreateProjectParams{OrganizationID: org.ID, Name: fmt.Sprintf("bench-%03d", i), Region: c.region})
		if err != nil {
			return res, fmt.Errorf("create project %d: %w", i, err)
		}
		made = append(made, p.ID)
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
		if err := firstCall(ctx, c.dataURL, secret, c.timeout); err != nil {
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

// firstCall calls the data plane with key until it authenticates.
func firstCall(ctx context.Context, dataURL, key string, timeout time.Duration) error {
	dc := sovereign.NewClient(dataURL, sovereign.WithAPIKey(key))
	deadline := time.Now().Add(timeout)
	for {
		_, err := dc.CurrentProject(ctx)
		if err == nil {
			return nil
		}
		if !sovereign.IsUnauthenticated(err) || time.Now().After(deadline) {
			return fmt.Errorf("first data-plane call with a fresh key: %w", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
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

type summary struct{ p50, p90, p99, max, mean time.Duration }

// summarize gives nearest-rank percentiles.
func summarize(d []time.Duration) summary {
	if len(d) == 0 {
		return summary{}
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
	return summary{p50: rank(0.50), p90: rank(0.90), p99: rank(0.99), max: s[len(s)-1], mean: sum / time.Duration(len(s))}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return math.Inf(1)
	}
	return float64(a) / float64(b)
}

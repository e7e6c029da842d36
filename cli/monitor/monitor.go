// Package monitor is `sov monitor`: live monitoring of the platform and the
// caller's projects in the terminal, or one snapshot as text or JSON with
// --once.
package monitor

import (
	"context"
	"errors"
	"fmt"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/factory"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
	"github.com/sovereign-backend/sovereign/tui"
)

// MinInterval is the shortest --interval accepted, so that a typo does not
// hammer the platform.
const MinInterval = 200 * time.Millisecond

// onceTimeout bounds the single fetch of --once.
const onceTimeout = 15 * time.Second

// Options are the inputs of `sov monitor`.
type Options struct {
	IO *factory.IOStreams
	// APIURL and DataURL are the planes' base URLs.
	APIURL  string
	DataURL string
	// Interval is the pause between refreshes (--interval).
	Interval time.Duration
	// Once prints one snapshot instead of opening the monitor (--once).
	Once bool
	// JSON prints the snapshot as JSON (--json); it implies Once.
	JSON bool
	// ManagementClient returns the control plane client, with the caller's
	// credentials when the profile has some and without otherwise (the
	// Regions and Projects pages then say "not logged in"). Nil means an
	// unauthenticated client of APIURL.
	ManagementClient func() (*sovereign.ManagementClient, error)
	// ClientOptions are given to the data plane client (and to the
	// control plane client when ManagementClient is nil).
	ClientOptions []sovereign.Option
	// Source replaces the SDK-backed source built from ManagementClient and
	// DataURL when set (tests).
	Source tui.Source
	// Now returns the current time; nil means time.Now (tests).
	Now func() time.Time
}

// NewCmdMonitor builds the command; runF replaces the run function in tests.
func NewCmdMonitor(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{
		IO:               f.IO,
		ManagementClient: func() (*sovereign.ManagementClient, error) { return managementClient(f) },
		ClientOptions:    append([]sovereign.Option{sovereign.WithUserAgent("sov")}, f.ClientOptions...),
		Now:              f.Now,
	}
	cmd := &cobra.Command{
		Use:   "monitor",
		Short: "Watch the platform's planes, regions and your projects live",
		Long: `Watch the control plane, the data plane, the regions and your projects live,
refreshed every --interval. Keys: tab / shift+tab or 1, 2, 3 switch pages,
r refreshes now, ? shows every key, q quits.

The monitor needs a terminal. In scripts, --once prints one snapshot: tables
on a terminal, tab-separated records with RFC 3339 times in a pipe, or JSON
with --json.`,
		Example: `  sov monitor
  sov monitor --interval 5s
  sov monitor --once --json | jq '.projects[] | select(.state != "active")'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if opts.APIURL, opts.DataURL, err = f.Endpoints(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().DurationVar(&opts.Interval, "interval", 2*time.Second, "time between refreshes")
	cmd.Flags().BoolVar(&opts.Once, "once", false, "print one snapshot and exit instead of opening the monitor")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the snapshot as JSON (implies --once)")
	return cmd
}

// Run opens the monitor, or prints one snapshot with Once or JSON. Without
// a terminal on stdout it refuses to open the monitor (exit code 2).
func Run(ctx context.Context, opts *Options) error {
	if opts.Interval < MinInterval {
		return factory.UsageError("--interval must be at least %s", MinInterval)
	}
	once := opts.Once || opts.JSON
	if !once && !opts.IO.OutTTY {
		return factory.UsageError("sov monitor needs a terminal on stdout; use --once (and --json) to print one snapshot")
	}
	src, err := source(opts)
	if err != nil {
		return err
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	if once {
		return printOnce(ctx, opts, src, now)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m := tui.New(ctx, tui.Config{Source: src, Interval: opts.Interval, Now: now})
	p := tea.NewProgram(m, tea.WithContext(ctx), tea.WithInput(opts.IO.In), tea.WithOutput(opts.IO.Out), tea.WithAltScreen())
	if _, err := p.Run(); err != nil {
		if errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil {
			return nil // interrupted: a normal way to leave
		}
		return fmt.Errorf("monitor: %w", err)
	}
	return nil
}

// managementClient returns the profile's signed-in client, or an anonymous
// one when the profile has no credentials: the monitor shows the planes'
// status to anyone, and says "not logged in" where credentials are needed.
func managementClient(f *factory.Factory) (*sovereign.ManagementClient, error) {
	if _, err := f.LoggedInProfile(); err != nil {
		if factory.ExitCode(err) == factory.ExitAuth {
			return f.AnonymousClient()
		}
		return nil, err
	}
	return f.Client()
}

// source returns opts.Source, or the SDK-backed one.
func source(opts *Options) (tui.Source, error) {
	if opts.Source != nil {
		return opts.Source, nil
	}
	var mgmt *sovereign.ManagementClient
	if opts.ManagementClient != nil {
		var err error
		if mgmt, err = opts.ManagementClient(); err != nil {
			return nil, err
		}
	} else {
		mgmt = sovereign.NewManagementClient(opts.APIURL, opts.ClientOptions...)
	}
	src := tui.NewSDKSource(mgmt, sovereign.NewClient(opts.DataURL, opts.ClientOptions...))
	src.APIURL, src.DataURL = opts.APIURL, opts.DataURL
	return src, nil
}

// Report is what `sov monitor --once --json` prints: the snapshot and when
// it was taken.
type Report struct {
	// FetchedAt is when the snapshot was complete.
	FetchedAt time.Time `json:"fetched_at"`
	tui.Snapshot
}

func printOnce(ctx context.Context, opts *Options, src tui.Source, now func() time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, onceTimeout)
	defer cancel()
	snap, err := src.Fetch(ctx)
	if err != nil {
		return fmt.Errorf("fetch snapshot: %w", err)
	}
	at := now()
	if opts.JSON {
		// Lists print as [], never null.
		snap.Regions, snap.Projects = factory.NonNil(snap.Regions), factory.NonNil(snap.Projects)
		snap.ControlPlane.Checks = factory.NonNil(snap.ControlPlane.Checks)
		snap.DataPlane.Checks = factory.NonNil(snap.DataPlane.Checks)
		return factory.PrintJSON(opts.IO.Out, Report{FetchedAt: at.UTC(), Snapshot: snap})
	}
	if opts.IO.OutTTY {
		return writeTables(opts.IO.Out, snap, at)
	}
	// Records have no place for what could not be listed: say it on stderr.
	if snap.NotLoggedIn {
		fmt.Fprintln(opts.IO.ErrOut, "sov monitor: regions and projects left out: not logged in: run sov login")
	}
	for _, e := range []string{snap.RegionsError, snap.ProjectsError} {
		if e != "" {
			fmt.Fprintln(opts.IO.ErrOut, "sov monitor:", oneLine(e))
		}
	}
	return writeRecords(opts.IO.Out, snap)
}

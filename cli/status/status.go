// Package status is `sov status`: the health of the platform's two planes.
package status

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/factory"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov status`.
type Options struct {
	IO      *factory.IOStreams
	APIURL  string
	DataURL string
	JSON    bool
}

// Report is what `sov status --json` prints.
type Report struct {
	ControlPlane PlaneReport `json:"control_plane"`
	DataPlane    PlaneReport `json:"data_plane"`
}

// PlaneReport describes one plane.
type PlaneReport struct {
	URL       string            `json:"url"`
	Reachable bool              `json:"reachable"`
	Error     string            `json:"error,omitempty"`
	Status    *sovereign.Status `json:"status,omitempty"`
}

// NewCmdStatus builds the command; runF replaces the run function in tests.
func NewCmdStatus(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO}
	endpoints := f.Endpoints
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show whether the control plane and data plane are up, and their dependencies",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if opts.APIURL, opts.DataURL, err = endpoints(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

// Run asks both planes for their status and prints it. It fails when either
// plane is unreachable or not ready.
func Run(ctx context.Context, opts *Options) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var rep Report
	rep.ControlPlane = plane(opts.APIURL, func() (*sovereign.Status, error) {
		return sovereign.NewManagementClient(opts.APIURL).Status(ctx)
	})
	rep.DataPlane = plane(opts.DataURL, func() (*sovereign.Status, error) {
		return sovereign.NewClient(opts.DataURL).Status(ctx)
	})
	if opts.JSON {
		if err := factory.PrintJSON(opts.IO.Out, rep); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(opts.IO.Out, 0, 4, 2, ' ', 0)
		if opts.IO.OutTTY {
			fmt.Fprintln(tw, "PLANE\tURL\tSTATE\tDETAIL")
		}
		for _, p := range []struct {
			name string
			r    PlaneReport
		}{{"control", rep.ControlPlane}, {"data", rep.DataPlane}} {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.name, p.r.URL, state(p.r), detail(p.r, opts.IO.OutTTY))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, p := range []PlaneReport{rep.ControlPlane, rep.DataPlane} {
		if !p.Reachable || !p.Status.Ready {
			return factory.WithExitCode(fmt.Errorf("the platform is not ready"), factory.ExitError)
		}
	}
	return nil
}

func plane(url string, get func() (*sovereign.Status, error)) PlaneReport {
	st, err := get()
	if err != nil {
		return PlaneReport{URL: url, Error: err.Error()}
	}
	return PlaneReport{URL: url, Reachable: true, Status: st}
}

func state(r PlaneReport) string {
	switch {
	case !r.Reachable:
		return "unreachable"
	case !r.Status.Ready:
		return "not-ready"
	default:
		return "ready"
	}
}

func detail(r PlaneReport, tty bool) string {
	if !r.Reachable {
		return r.Error
	}
	s := r.Status
	d := "version " + s.Version
	if s.Region != "" {
		d += ", region " + s.Region
	}
	if tty {
		d += ", up " + time.Since(s.StartedAt).Round(time.Second).String()
	} else {
		d += ", started " + s.StartedAt.UTC().Format(time.RFC3339)
	}
	for _, c := range s.Checks {
		if !c.OK {
			d += "; " + c.Name + ": " + c.Reason
		}
	}
	return d
}

// Package list is `sov regions list`.
package list

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/tableprinter"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov regions list`.
type Options struct {
	IO *factory.IOStreams
	// Client returns a client signed in as the profile.
	Client func() (*sovereign.ManagementClient, error)
	Now    func() time.Time
	JSON   bool
}

// NewCmdList builds the command; runF replaces the run function in tests.
func NewCmdList(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Client: f.Client, Now: f.Now}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List regions, their data plane URLs and health",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

// Run lists the regions: name, URL, health, last heartbeat.
func Run(ctx context.Context, opts *Options) error {
	mc, err := opts.Client()
	if err != nil {
		return err
	}
	regions, err := sovereign.Collect(mc.Regions(ctx))
	if err != nil {
		return err
	}
	if opts.JSON {
		return factory.PrintJSON(opts.IO.Out, factory.NonNil(regions))
	}
	tp := tableprinter.New(opts.IO.Out, opts.IO.OutTTY, opts.Now(), "name", "url", "health", "last heartbeat")
	for _, r := range regions {
		tp.Field(r.Name)
		tp.Field(r.PublicURL)
		if r.Healthy {
			tp.Field("healthy")
		} else {
			tp.Field("unhealthy")
		}
		tp.Time(r.LastHeartbeatAt)
		tp.EndRow()
	}
	return tp.Render()
}

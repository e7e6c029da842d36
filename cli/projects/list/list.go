// Package list is `sov projects list`.
package list

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/orgarg"
	"github.com/sovereign-backend/sovereign/cli/projects/shared"
	"github.com/sovereign-backend/sovereign/cli/tableprinter"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov projects list`.
type Options struct {
	IO *factory.IOStreams
	// Client returns a client signed in as the profile.
	Client func() (*sovereign.ManagementClient, error)
	Now    func() time.Time
	Org    string
	All    bool
	JSON   bool
}

// NewCmdList builds the command; runF replaces the run function in tests.
func NewCmdList(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Client: f.Client, Now: f.Now}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List an organization's projects, newest first",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Org, "org", "", orgarg.Usage)
	cmd.Flags().BoolVarP(&opts.All, "all", "a", false, "include deleted projects")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

// Run lists the projects.
func Run(ctx context.Context, opts *Options) error {
	mc, err := opts.Client()
	if err != nil {
		return err
	}
	org, err := orgarg.Resolve(ctx, mc, opts.Org)
	if err != nil {
		return err
	}
	seq := mc.Projects(ctx, sovereign.ListProjectsParams{OrganizationID: org.ID, IncludeDeleted: opts.All})
	if opts.JSON {
		projects, err := sovereign.Collect(seq)
		if err != nil {
			return err
		}
		return factory.PrintJSON(opts.IO.Out, factory.NonNil(projects))
	}
	tp := tableprinter.New(opts.IO.Out, opts.IO.OutTTY, opts.Now(), shared.Header...)
	for p, err := range seq {
		if err != nil {
			return err
		}
		shared.Row(tp, p)
	}
	return tp.Render()
}

// Package list is `sov orgs list`.
package list

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/tableprinter"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov orgs list`.
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
		Short:   "List the organizations you are a member of",
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

// Run lists the organizations: name, id, your role, plan, created.
func Run(ctx context.Context, opts *Options) error {
	mc, err := opts.Client()
	if err != nil {
		return err
	}
	orgs, err := sovereign.Collect(mc.Organizations(ctx))
	if err != nil {
		return err
	}
	if opts.JSON {
		return factory.PrintJSON(opts.IO.Out, factory.NonNil(orgs))
	}
	tp := tableprinter.New(opts.IO.Out, opts.IO.OutTTY, opts.Now(), "name", "id", "role", "plan", "created")
	for _, o := range orgs {
		tp.Field(o.Name)
		tp.Field(o.ID)
		tp.Field(string(o.Role))
		tp.Field(o.Plan)
		tp.Time(o.CreatedAt)
		tp.EndRow()
	}
	return tp.Render()
}

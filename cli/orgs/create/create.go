// Package create is `sov orgs create`.
package create

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/factory"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov orgs create`.
type Options struct {
	IO *factory.IOStreams
	// Client returns a client signed in as the profile.
	Client func() (*sovereign.ManagementClient, error)
	Name   string
	JSON   bool
}

// NewCmdCreate builds the command; runF replaces the run function in tests.
func NewCmdCreate(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Client: f.Client}
	cmd := &cobra.Command{
		Use:     "create NAME",
		Short:   "Create an organization, with you as its owner",
		Example: `  sov orgs create Acme`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

// Run creates the organization.
func Run(ctx context.Context, opts *Options) error {
	mc, err := opts.Client()
	if err != nil {
		return err
	}
	org, err := mc.CreateOrganization(ctx, opts.Name)
	if err != nil {
		return err
	}
	switch {
	case opts.JSON:
		return factory.PrintJSON(opts.IO.Out, org)
	case opts.IO.OutTTY:
		_, err = fmt.Fprintf(opts.IO.Out, "✓ Created organization %s (%s, plan %s)\n", org.Name, org.ID, org.Plan)
	default:
		_, err = fmt.Fprintf(opts.IO.Out, "%s\t%s\n", org.ID, org.Name)
	}
	return err
}

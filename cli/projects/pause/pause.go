// Package pause is `sov projects pause`.
package pause

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/projects/shared"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov projects pause`.
type Options struct {
	IO *factory.IOStreams
	// Client returns a client signed in as the profile.
	Client func() (*sovereign.ManagementClient, error)
	Now    func() time.Time
	// Project is the project's ref or id.
	Project string
	JSON    bool
}

// NewCmdPause builds the command; runF replaces the run function in tests.
func NewCmdPause(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Client: f.Client, Now: f.Now}
	cmd := &cobra.Command{
		Use:   "pause REF",
		Short: "Pause a project: its keys stop working, its data is kept",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Project = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

// Run pauses the project and prints it.
func Run(ctx context.Context, opts *Options) error {
	mc, err := opts.Client()
	if err != nil {
		return err
	}
	p, err := mc.PauseProject(ctx, opts.Project)
	if err != nil {
		return err
	}
	if opts.IO.OutTTY && !opts.JSON {
		_, err := fmt.Fprintf(opts.IO.Out, "✓ Project %s (%s) is %s\n", p.Name, p.Ref, p.State)
		return err
	}
	return shared.Print(opts.IO, opts.Now(), opts.JSON, p)
}

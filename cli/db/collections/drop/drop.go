// Package drop is `sov db collections drop`.
package drop

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/db/shared"
	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/prompt"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov db collections drop`.
type Options struct {
	IO       *factory.IOStreams
	Prompter prompt.Prompter
	// Client returns a client of the project's data plane.
	Client func() (*sovereign.Client, error)
	Name   string
	Yes    bool
}

// NewCmdDrop builds the command; runF replaces the run function in tests.
func NewCmdDrop(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "drop NAME",
		Short: "Drop a collection and all its records",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Client = shared.Client(f, cmd)
			opts.Prompter = prompt.New(f.IO)
			opts.Name = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

// Run confirms and drops the collection.
func Run(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	if err := prompt.ConfirmOrYes(opts.IO, opts.Prompter, opts.Yes,
		fmt.Sprintf("Drop collection %s and all its records? This cannot be undone", opts.Name)); err != nil {
		return err
	}
	if err := c.Collections().Drop(ctx, opts.Name); err != nil {
		return err
	}
	if opts.IO.OutTTY {
		_, err = fmt.Fprintf(opts.IO.Out, "✓ Dropped collection %s\n", opts.Name)
	}
	return err
}

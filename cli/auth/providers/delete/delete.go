// Package delete is `sov auth providers delete`.
package delete

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/db/shared"
	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/prompt"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov auth providers delete`.
type Options struct {
	IO       *factory.IOStreams
	Prompter prompt.Prompter
	// Client returns a client of the project's data plane.
	Client func() (*sovereign.Client, error)
	Name   string
	Yes    bool
}

// NewCmdDelete builds the command; runF replaces the run function in tests.
func NewCmdDelete(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a provider: users can no longer sign in with it",
		Long: `Delete a provider. Users who signed in with it keep their accounts but cannot
sign in with it again. Without a terminal, --yes is required.`,
		Args: cobra.ExactArgs(1),
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

// Run confirms and deletes the provider.
func Run(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	if err := prompt.ConfirmOrYes(opts.IO, opts.Prompter, opts.Yes,
		fmt.Sprintf("Delete provider %s? Users can no longer sign in with it", opts.Name)); err != nil {
		return err
	}
	if err := c.AuthAdmin().DeleteProvider(ctx, opts.Name); err != nil {
		return err
	}
	if opts.IO.OutTTY {
		_, err = fmt.Fprintf(opts.IO.Out, "✓ Deleted provider %s\n", opts.Name)
	}
	return err
}

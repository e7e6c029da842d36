// Package delete is `sov auth users delete`.
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

// Options are the inputs of `sov auth users delete`.
type Options struct {
	IO       *factory.IOStreams
	Prompter prompt.Prompter
	// Client returns a client of the project's data plane.
	Client func() (*sovereign.Client, error)
	ID     string
	Yes    bool
}

// NewCmdDelete builds the command; runF replaces the run function in tests.
func NewCmdDelete(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a user and end their sessions",
		Long: `Delete a user: they can no longer sign in, and their sessions end. This cannot
be undone; ` + "`sov auth users disable`" + ` stops a user reversibly. Without a
terminal, --yes is required.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Client = shared.Client(f, cmd)
			opts.Prompter = prompt.New(f.IO)
			opts.ID = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

// Run confirms and deletes the user.
func Run(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	if err := prompt.ConfirmOrYes(opts.IO, opts.Prompter, opts.Yes,
		fmt.Sprintf("Delete user %s? This cannot be undone", opts.ID)); err != nil {
		return err
	}
	if err := c.AuthAdmin().DeleteUser(ctx, opts.ID); err != nil {
		return err
	}
	if opts.IO.OutTTY {
		_, err = fmt.Fprintf(opts.IO.Out, "✓ Deleted user %s\n", opts.ID)
	}
	return err
}

// Package rm is `sov realtime rules rm`.
package rm

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/db/shared"
	"github.com/sovereign-backend/sovereign/cli/factory"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov realtime rules rm`.
type Options struct {
	IO *factory.IOStreams
	// Client returns a client of the project's data plane.
	Client func() (*sovereign.Client, error)
	Prefix string
	JSON   bool
}

// NewCmdRm builds the command; runF replaces the run function in tests.
func NewCmdRm(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO}
	cmd := &cobra.Command{
		Use:     "rm PREFIX",
		Aliases: []string{"delete"},
		Short:   "Delete the rule of a channel prefix",
		Long: `Delete the rule of PREFIX: its channels fall to the rule of a shorter prefix
they start with, or else to the secret key alone. Members already in a
channel keep the rules they joined with. A prefix without a rule is an
error, with exit code 4.`,
		Example: `  sov realtime rules rm room:`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Client = shared.Client(f, cmd)
			opts.Prefix = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the prefix deleted as JSON")
	return cmd
}

// Run deletes the rule and prints its prefix.
func Run(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	if err := c.ChannelRules().Delete(ctx, opts.Prefix); err != nil {
		if sovereign.IsNotFound(err) {
			return factory.NotFoundError("no channel rule has the prefix %q in this project (`sov realtime rules ls` lists them)", opts.Prefix)
		}
		return err
	}
	switch {
	case opts.JSON:
		return factory.PrintJSON(opts.IO.Out, map[string]string{"deleted": opts.Prefix})
	case opts.IO.OutTTY:
		_, err = fmt.Fprintf(opts.IO.Out, "✓ deleted the rule of %s\n", opts.Prefix)
	default:
		_, err = fmt.Fprintln(opts.IO.Out, opts.Prefix)
	}
	return err
}

// Package get is `sov db rules get`.
package get

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/db/shared"
	"github.com/sovereign-backend/sovereign/cli/factory"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov db rules get`.
type Options struct {
	IO *factory.IOStreams
	// Client returns a client of the project's data plane.
	Client     func() (*sovereign.Client, error)
	Collection string
}

// NewCmdGet builds the command; runF replaces the run function in tests.
func NewCmdGet(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "get COLLECTION",
		Short: "Print a collection's access rules as JSON",
		Long: `Print a collection's access rules as the JSON object of the REST API
(GET /v1/collections/{name}/rules), which ` + "`sov db rules set --file`" + ` takes
back. A rule that is not set is left out: it denies.`,
		Example: `  sov db rules get posts
  sov db rules get posts > rules.json && $EDITOR rules.json && sov db rules set posts --file rules.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Client = shared.Client(f, cmd)
			opts.Collection = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	return cmd
}

// Run prints the rules.
func Run(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	r, err := c.Collections().Rules(ctx, opts.Collection)
	if err != nil {
		return err
	}
	return factory.PrintJSON(opts.IO.Out, r)
}

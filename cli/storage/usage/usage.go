// Package usage is `sov storage usage`: what the project stores, against
// its plan's limit.
package usage

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/db/progress"
	"github.com/sovereign-backend/sovereign/cli/db/shared"
	"github.com/sovereign-backend/sovereign/cli/factory"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov storage usage`.
type Options struct {
	IO *factory.IOStreams
	// Client returns a client of the project's data plane.
	Client func() (*sovereign.Client, error)
	JSON   bool
}

// NewCmdUsage builds the command; runF replaces the run function in tests.
func NewCmdUsage(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "usage",
		Short: "Show the bytes and objects the project stores, and its limit",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Client = shared.Client(f, cmd)
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

// Run prints the usage: for people on a terminal; "bytes\tobjects\tlimit"
// in a pipe (limit 0: none).
func Run(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	u, err := c.Storage().Usage(ctx)
	if err != nil {
		return err
	}
	switch {
	case opts.JSON:
		return factory.PrintJSON(opts.IO.Out, u)
	case opts.IO.OutTTY:
		limit := "no limit"
		if u.LimitBytes > 0 {
			limit = fmt.Sprintf("of %s (%d%%)", progress.Size(u.LimitBytes), u.Bytes*100/u.LimitBytes)
		}
		_, err = fmt.Fprintf(opts.IO.Out, "%s in %s objects, %s\n", progress.Size(u.Bytes), progress.Count(u.Objects), limit)
	default:
		_, err = fmt.Fprintf(opts.IO.Out, "%d\t%d\t%d\n", u.Bytes, u.Objects, u.LimitBytes)
	}
	return err
}

// Package describe is `sov db collections describe`.
package describe

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/db/shared"
	"github.com/sovereign-backend/sovereign/cli/factory"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov db collections describe`.
type Options struct {
	IO *factory.IOStreams
	// Client returns a client of the project's data plane.
	Client func() (*sovereign.Client, error)
	Now    func() time.Time
	Name   string
	JSON   bool
}

// NewCmdDescribe builds the command; runF replaces the run function in
// tests.
func NewCmdDescribe(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Now: f.Now}
	cmd := &cobra.Command{
		Use:     "describe NAME",
		Aliases: []string{"get", "show"},
		Short:   "Show a collection's fields and indexes",
		Long: `Show a collection's fields and indexes. With --json, the description that
` + "`sov db collections create --file`" + ` takes.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Client = shared.Client(f, cmd)
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

// Run describes the collection.
func Run(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	spec, err := c.Collections().Get(ctx, opts.Name)
	if err != nil {
		return err
	}
	return shared.PrintCollection(opts.IO, opts.Now(), spec, opts.JSON)
}

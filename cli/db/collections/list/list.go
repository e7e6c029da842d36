// Package list is `sov db collections list`.
package list

import (
	"context"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/db/shared"
	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/tableprinter"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov db collections list`.
type Options struct {
	IO *factory.IOStreams
	// Client returns a client of the project's data plane.
	Client func() (*sovereign.Client, error)
	Now    func() time.Time
	JSON   bool
}

// NewCmdList builds the command; runF replaces the run function in tests.
func NewCmdList(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Now: f.Now}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the project's collections",
		Args:    cobra.NoArgs,
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

// Run lists the collections: name, number of fields and of indexes,
// created, updated.
func Run(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	cols, err := c.Collections().List(ctx)
	if err != nil {
		return err
	}
	if opts.JSON {
		return factory.PrintJSON(opts.IO.Out, factory.NonNil(cols))
	}
	tp := tableprinter.New(opts.IO.Out, opts.IO.OutTTY, opts.Now(), "name", "fields", "indexes", "created", "updated")
	for _, col := range cols {
		tp.Field(col.Name)
		tp.Field(strconv.Itoa(len(col.Fields)))
		tp.Field(strconv.Itoa(len(col.Indexes)))
		tp.Time(col.CreatedAt)
		tp.Time(col.UpdatedAt)
		tp.EndRow()
	}
	return tp.Render()
}

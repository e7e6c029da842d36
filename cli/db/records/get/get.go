// Package get is `sov db records get`.
package get

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/db/shared"
	"github.com/sovereign-backend/sovereign/cli/factory"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov db records get`.
type Options struct {
	IO *factory.IOStreams
	// Client returns a client of the project's data plane.
	Client     func() (*sovereign.Client, error)
	Now        func() time.Time
	Collection string
	ID         string
	Fields     []string
	Expand     []string
	JSON       bool
}

// NewCmdGet builds the command; runF replaces the run function in tests.
func NewCmdGet(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Now: f.Now}
	var fields, expand []string
	cmd := &cobra.Command{
		Use:     "get COLLECTION ID",
		Aliases: []string{"show"},
		Short:   "Show a record",
		Long: `Show a record: its fields one a line on a terminal, one tab-separated line in a
pipe (id, the fields in the schema's order, created_at, updated_at, version),
the record's JSON with --json.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Client = shared.Client(f, cmd)
			opts.Collection, opts.ID = args[0], args[1]
			opts.Fields, opts.Expand = shared.SplitList(fields), shared.SplitList(expand)
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringSliceVar(&fields, "fields", nil, "show only these fields (the system fields always come)")
	cmd.Flags().StringSliceVar(&expand, "expand", nil, "embed the records these relation fields point to")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

// Run shows the record.
func Run(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	rec, err := sovereign.Collection[sovereign.Record](c, opts.Collection).Get(ctx, opts.ID,
		sovereign.WithFields(opts.Fields...), sovereign.WithExpand(opts.Expand...))
	if err != nil {
		return err
	}
	if opts.JSON {
		return shared.PrintRecord(opts.IO, opts.Now(), nil, rec, true)
	}
	spec, err := c.Collections().Get(ctx, opts.Collection)
	if err != nil {
		return err
	}
	return shared.PrintRecord(opts.IO, opts.Now(), shared.Columns(spec, opts.Fields), rec, false)
}

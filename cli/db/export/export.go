// Package export is `sov db export`: a collection's records as NDJSON.
package export

import (
	"bufio"
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/db/progress"
	"github.com/sovereign-backend/sovereign/cli/db/shared"
	"github.com/sovereign-backend/sovereign/cli/factory"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// pageSize is how many records each request fetches.
const pageSize = sovereign.MaxPageSize

// Options are the inputs of `sov db export`.
type Options struct {
	IO *factory.IOStreams
	// Client returns a client of the project's data plane.
	Client func() (*sovereign.Client, error)
	// ErrTTY is true when stderr is a terminal: progress is drawn there.
	ErrTTY     bool
	Collection string
	Filter     string
	Sort       []string
}

// NewCmdExport builds the command; runF replaces the run function in tests.
func NewCmdExport(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO}
	var sort []string
	cmd := &cobra.Command{
		Use:   "export COLLECTION",
		Short: "Write a collection's records to stdout as NDJSON",
		Long: `Write every record of a collection (or those --filter matches) to stdout, one
JSON object a line, with their system fields, fetching them page by page as
they are written: memory stays flat however large the collection.
` + "`sov db import`" + ` reads the result back. On a terminal, stderr shows progress.`,
		Example: `  sov db export posts > posts.ndjson
  sov db export posts --filter 'n > 5' | jq -r .title`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Client = shared.Client(f, cmd)
			opts.ErrTTY = shared.IsTerminal(opts.IO.ErrOut)
			opts.Collection = args[0]
			opts.Sort = shared.SplitList(sort)
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Filter, "filter", "", "only the records this filter matches (see `sov db query --help`)")
	cmd.Flags().StringSliceVar(&sort, "sort", nil, "order by these fields, - for descending (default: id)")
	return cmd
}

// Run streams the records.
func Run(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	coll := sovereign.Collection[sovereign.Record](c, opts.Collection)
	q := sovereign.Query{Filter: sovereign.Raw(opts.Filter), Sort: opts.Sort, PageSize: pageSize}
	var bar *progress.Bar
	if opts.ErrTTY {
		// The estimate only sizes the bar: a failure to get it is not the
		// export's.
		total, _, _ := coll.Count(ctx, q, sovereign.CountEstimated)
		bar = progress.New(opts.IO.ErrOut, "Exporting "+opts.Collection, progress.Records, total)
	}
	w := bufio.NewWriterSize(opts.IO.Out, 256<<10)
	var n int64
	for r, err := range coll.Query(ctx, q) {
		if err != nil {
			bar.Finish()
			_ = w.Flush()
			if n > 0 {
				return fmt.Errorf("export stopped after %d records: %w", n, err)
			}
			return err
		}
		if err := shared.JSONLine(w, r); err != nil {
			bar.Finish()
			return err
		}
		n++
		bar.Add(1)
		if n%pageSize == 0 {
			if err := w.Flush(); err != nil {
				bar.Finish()
				return err
			}
		}
	}
	bar.Finish()
	if err := w.Flush(); err != nil {
		return err
	}
	if opts.ErrTTY {
		fmt.Fprintf(opts.IO.ErrOut, "✓ Exported %s records from %s\n", progress.Count(n), opts.Collection)
	}
	return nil
}

// Package query is `sov db query`: records that match a filter.
package query

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/db/shared"
	"github.com/sovereign-backend/sovereign/cli/factory"
)

// Options are the inputs of `sov db query`.
type Options struct {
	shared.Query
}

// NewCmdQuery builds the command; runF replaces the run function in tests.
func NewCmdQuery(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{Query: shared.Query{IO: f.IO, Now: f.Now}}
	var sort, fields, expand []string
	cmd := &cobra.Command{
		Use:   "query COLLECTION [FILTER]",
		Short: "Show the records that match a filter",
		Long: `Show the records of a collection that match FILTER, an expression in the
platform's expression language (CEL) over the collection's fields: the same
language as access rules and realtime subscriptions. Text is in double
quotes; && and || combine conditions:

  n > 5 && title.startsWith("a")
  status in ["open", "review"] || due == null
  created_at > timestamp("2024-01-01T00:00:00Z")

A filter that does not parse or names an unknown field is refused with its
position. Without FILTER, every record.`,
		Example: `  sov db query posts 'n > 5' --sort -created_at --limit 10
  sov db query posts 'title.contains("go")' --json | jq -r '.[].id'
  sov db query posts 'n > 5' --count`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Client = shared.Client(f, cmd)
			opts.Collection = args[0]
			if len(args) == 2 {
				opts.Filter = args[1]
			}
			if err := shared.ValidateQuery(&opts.Query, sort, fields, expand); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	shared.AddQueryFlags(cmd, &opts.Query, &sort, &fields, &expand)
	return cmd
}

// Run runs the query and prints the records.
func Run(ctx context.Context, opts *Options) error { return shared.RunQuery(ctx, &opts.Query) }

// Package list is `sov db records list`.
package list

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/db/shared"
	"github.com/sovereign-backend/sovereign/cli/factory"
)

// Options are the inputs of `sov db records list`: a query without a
// filter.
type Options struct {
	shared.Query
}

// NewCmdList builds the command; runF replaces the run function in tests.
func NewCmdList(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{Query: shared.Query{IO: f.IO, Now: f.Now}}
	var sort, fields, expand []string
	cmd := &cobra.Command{
		Use:     "list COLLECTION",
		Aliases: []string{"ls"},
		Short:   "List a collection's records",
		Long: `List a collection's records, by id (creation order) unless --sort says
otherwise. ` + "`sov db query`" + ` filters them; ` + "`sov db export`" + ` streams them all as NDJSON.`,
		Example: `  sov db records list posts
  sov db records list posts --sort -created_at --limit 10 --fields title,n`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Client = shared.Client(f, cmd)
			opts.Collection = args[0]
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

// Run lists the records.
func Run(ctx context.Context, opts *Options) error { return shared.RunQuery(ctx, &opts.Query) }

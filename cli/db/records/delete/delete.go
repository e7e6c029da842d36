// Package delete is `sov db records delete`.
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

// Options are the inputs of `sov db records delete`.
type Options struct {
	IO       *factory.IOStreams
	Prompter prompt.Prompter
	// Client returns a client of the project's data plane.
	Client     func() (*sovereign.Client, error)
	Collection string
	IDs        []string
	// ExpectVersion, when not 0, deletes only at that version (one ID).
	ExpectVersion int64
	Yes           bool
}

// NewCmdDelete builds the command; runF replaces the run function in tests.
func NewCmdDelete(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO}
	cmd := &cobra.Command{
		Use:     "delete COLLECTION ID...",
		Aliases: []string{"rm"},
		Short:   "Delete records",
		Long: `Delete records by id. Several ids are deleted in one batch: all of them, or
none when one fails.`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Client = shared.Client(f, cmd)
			opts.Prompter = prompt.New(f.IO)
			opts.Collection, opts.IDs = args[0], args[1:]
			if opts.ExpectVersion != 0 && len(opts.IDs) > 1 {
				return factory.UsageError("--expect-version takes one record")
			}
			if len(opts.IDs) > sovereign.MaxBatchOps {
				return factory.UsageError("at most %d records at once", sovereign.MaxBatchOps)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().Int64Var(&opts.ExpectVersion, "expect-version", 0, "delete only while the record is at this version")
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

// Run confirms and deletes the records.
func Run(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	what := fmt.Sprintf("record %s", opts.IDs[0])
	if len(opts.IDs) > 1 {
		what = fmt.Sprintf("%d records", len(opts.IDs))
	}
	if err := prompt.ConfirmOrYes(opts.IO, opts.Prompter, opts.Yes, fmt.Sprintf("Delete %s from %s?", what, opts.Collection)); err != nil {
		return err
	}
	if len(opts.IDs) == 1 {
		err = sovereign.Collection[sovereign.Record](c, opts.Collection).Delete(ctx, opts.IDs[0], sovereign.ExpectVersion(opts.ExpectVersion))
	} else {
		b := c.Batch()
		for _, id := range opts.IDs {
			b.Delete(opts.Collection, id)
		}
		_, err = b.Run(ctx)
	}
	if err != nil {
		return err
	}
	if opts.IO.OutTTY {
		_, err = fmt.Fprintf(opts.IO.Out, "✓ Deleted %s from %s\n", what, opts.Collection)
	}
	return err
}

// Package insert is `sov db records insert`.
package insert

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/db/shared"
	"github.com/sovereign-backend/sovereign/cli/factory"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov db records insert`.
type Options struct {
	IO *factory.IOStreams
	// Client returns a client of the project's data plane.
	Client     func() (*sovereign.Client, error)
	Collection string
	// Records are the records to insert, in order.
	Records []sovereign.Record
	JSON    bool
}

// NewCmdInsert builds the command; runF replaces the run function in tests.
func NewCmdInsert(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO}
	cmd := &cobra.Command{
		Use:     "insert COLLECTION [JSON...]",
		Aliases: []string{"create", "add"},
		Short:   "Insert records given as JSON objects",
		Long: `Insert records: each JSON argument is one record; without one, stdin holds one
JSON object or several (NDJSON). The records are inserted one by one, in
order, stopping at the first refused; ` + "`sov db import`" + ` loads many faster, in
batches. An "id" (a UUID) chooses the record's id; the other system fields
are set by the platform.

Prints each record's id and version (tab-separated) in a pipe, the records
with --json.`,
		Example: `  sov db records insert posts '{"title": "hello", "n": 1}'
  ID=$(sov db records insert posts '{"title": "x"}' | cut -f1)
  jq -c '.[]' posts.json | sov db records insert posts`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Client = shared.Client(f, cmd)
			opts.Collection = args[0]
			opts.Records = nil
			for _, a := range args[1:] {
				r, err := shared.ParseRecord(a)
				if err != nil {
					return factory.UsageError("%v", err)
				}
				opts.Records = append(opts.Records, r)
			}
			if len(args) == 1 {
				if opts.IO.InTTY {
					return factory.UsageError("give the record as a JSON argument, or on stdin: sov db records insert %s '{\"title\": \"hello\"}'", opts.Collection)
				}
				recs, err := shared.ReadRecords(opts.IO.In)
				if err != nil {
					return factory.UsageError("stdin: %v", err)
				}
				if len(recs) == 0 {
					return factory.UsageError("stdin holds no record")
				}
				opts.Records = recs
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the inserted records as JSON")
	return cmd
}

// Run inserts the records.
func Run(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	coll := sovereign.Collection[sovereign.Record](c, opts.Collection)
	var done []sovereign.Record
	for i, r := range opts.Records {
		rec, err := coll.Insert(ctx, r)
		if err != nil {
			if len(opts.Records) > 1 {
				return fmt.Errorf("record %d of %d (%d inserted before it): %w", i+1, len(opts.Records), i, err)
			}
			return err
		}
		if !opts.JSON {
			if err := shared.WriteResult(opts.IO, "Inserted", opts.Collection, rec, false); err != nil {
				return err
			}
		}
		done = append(done, rec)
	}
	if !opts.JSON {
		return nil
	}
	if len(done) == 1 {
		return factory.PrintJSON(opts.IO.Out, done[0])
	}
	return factory.PrintJSON(opts.IO.Out, done)
}

// Package update is `sov db records update`.
package update

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/db/shared"
	"github.com/sovereign-backend/sovereign/cli/factory"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov db records update`.
type Options struct {
	IO *factory.IOStreams
	// Client returns a client of the project's data plane.
	Client     func() (*sovereign.Client, error)
	Collection string
	ID         string
	// Patch holds the fields to set (null clears one); with Replace, the
	// whole record.
	Patch sovereign.Record
	// Replace sets every user field: fields not in Patch become their
	// default or null.
	Replace bool
	// ExpectVersion, when not 0, applies the change only at that version.
	ExpectVersion int64
	JSON          bool
}

// NewCmdUpdate builds the command; runF replaces the run function in tests.
func NewCmdUpdate(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "update COLLECTION ID [JSON]",
		Short: "Change some fields of a record (or replace it)",
		Long: `Change the fields given in JSON (an object; from stdin when not an argument)
and keep the others; null clears a field. --replace sets every user field
instead: those not given become their default or null.

--expect-version applies the change only while the record is at that version
(the one you read), so that a concurrent change is not lost: the platform
answers with a conflict instead.`,
		Example: `  sov db records update posts 0190a6f0-… '{"n": 2}'
  sov db records update posts 0190a6f0-… '{"title": "new"}' --expect-version 3`,
		Args: cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Client = shared.Client(f, cmd)
			opts.Collection, opts.ID = args[0], args[1]
			if opts.ExpectVersion < 0 {
				return factory.UsageError("--expect-version must not be negative")
			}
			if len(args) == 3 {
				p, err := shared.ParseRecord(args[2])
				if err != nil {
					return factory.UsageError("%v", err)
				}
				opts.Patch = p
			} else {
				if opts.IO.InTTY {
					return factory.UsageError("give the changes as a JSON argument, or on stdin: sov db records update %s %s '{\"n\": 2}'", opts.Collection, opts.ID)
				}
				recs, err := shared.ReadRecords(opts.IO.In)
				if err != nil {
					return factory.UsageError("stdin: %v", err)
				}
				if len(recs) != 1 {
					return factory.UsageError("stdin holds %d JSON objects; want one", len(recs))
				}
				opts.Patch = recs[0]
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Replace, "replace", false, "replace every user field, not only those given")
	cmd.Flags().Int64Var(&opts.ExpectVersion, "expect-version", 0, "apply only while the record is at this version")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the record after the change as JSON")
	return cmd
}

// Run changes the record.
func Run(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	coll := sovereign.Collection[sovereign.Record](c, opts.Collection)
	var rec sovereign.Record
	verb := "Updated"
	if opts.Replace {
		verb = "Replaced"
		rec, err = coll.Replace(ctx, opts.ID, opts.Patch, sovereign.ExpectVersion(opts.ExpectVersion))
	} else {
		rec, err = coll.Update(ctx, opts.ID, opts.Patch, sovereign.ExpectVersion(opts.ExpectVersion))
	}
	if err != nil {
		return err
	}
	return shared.WriteResult(opts.IO, verb, opts.Collection, rec, opts.JSON)
}

// Package history is `sov db history`: the schema history, as a table or as
// SQL.
package history

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/db/shared"
	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/tableprinter"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov db history`.
type Options struct {
	IO *factory.IOStreams
	// Client returns a client of the project's data plane.
	Client func() (*sovereign.Client, error)
	Now    func() time.Time
	// Collection limits the history to one collection; empty for all.
	Collection string
	// SQL prints the history as an SQL script.
	SQL  bool
	JSON bool
}

// NewCmdHistory builds the command; runF replaces the run function in
// tests.
func NewCmdHistory(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Now: f.Now}
	cmd := &cobra.Command{
		Use:   "history [COLLECTION]",
		Short: "Show the schema history, or export it as SQL",
		Long: `Show every change made to the project's collections (or to one), oldest first:
creates, alters and drops, with what changed. --sql prints the SQL each
change ran, as a script, to keep beside your code or review.`,
		Example: `  sov db history
  sov db history posts --sql > posts-schema.sql`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Client = shared.Client(f, cmd)
			if len(args) == 1 {
				opts.Collection = args[0]
			}
			if opts.SQL && opts.JSON {
				return factory.UsageError("--sql and --json do not go together")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.SQL, "sql", false, "print the history as an SQL script")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

// Run prints the history.
func Run(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	changes, err := sovereign.Collect(c.Collections().History(ctx, opts.Collection))
	if err != nil {
		return err
	}
	switch {
	case opts.JSON:
		return factory.PrintJSON(opts.IO.Out, factory.NonNil(changes))
	case opts.SQL:
		return WriteSQL(opts.IO.Out, opts.Collection, changes)
	}
	tp := tableprinter.New(opts.IO.Out, opts.IO.OutTTY, opts.Now(), "id", "at", "collection", "kind", "description")
	for _, ch := range changes {
		tp.Field(strconv.FormatInt(ch.ID, 10))
		tp.Time(ch.At)
		tp.Field(ch.Collection)
		tp.Field(ch.Kind)
		tp.Field(ch.Description)
		tp.EndRow()
	}
	return tp.Render()
}

// WriteSQL writes changes as an SQL script: each change's SQL after a
// comment that says which change it is, every statement ended by a
// semicolon.
func WriteSQL(w io.Writer, collection string, changes []*sovereign.SchemaChange) error {
	var b strings.Builder
	what := "all collections"
	if collection != "" {
		what = "collection " + collection
	}
	fmt.Fprintf(&b, "-- Schema history of %s, oldest first (sov db history --sql).\n", what)
	for _, ch := range changes {
		fmt.Fprintf(&b, "\n-- #%d %s %s %s: %s\n", ch.ID, ch.At.UTC().Format(time.RFC3339), ch.Kind, ch.Collection,
			strings.ReplaceAll(ch.Description, "\n", " "))
		sql := strings.TrimSpace(ch.SQL)
		if sql == "" {
			b.WriteString("-- (no SQL recorded)\n")
			continue
		}
		b.WriteString(sql)
		if !strings.HasSuffix(sql, ";") {
			b.WriteString(";")
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

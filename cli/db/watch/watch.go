// Package watch is `sov db watch`: a collection's changes as they happen,
// one JSON line each.
package watch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/db/shared"
	"github.com/sovereign-backend/sovereign/cli/factory"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov db watch`.
type Options struct {
	IO *factory.IOStreams
	// Client returns a client of the project's data plane.
	Client func() (*sovereign.Client, error)
	// Collection to watch.
	Collection string
	// Filter keeps the changes whose record matches it; "" keeps all.
	Filter string
	// FromCursor resumes after that cursor; "" starts with the changes
	// made after the command starts.
	FromCursor string
	// Snapshot prints the matching records first.
	Snapshot bool
	// Max ends the command after that many printed lines; 0 never.
	Max int
}

// NewCmdWatch builds the command; runF replaces the run function in tests.
func NewCmdWatch(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "watch COLLECTION",
		Short: "Print a collection's changes as they happen, one JSON line each",
		Long: `Print each change to COLLECTION's records as one line of JSON, as it happens:

  {"op":"insert","cursor":"42","record":{…},"at":"2025-01-02T03:04:05Z"}

op is insert, update or delete; record is the record after the change (for
a delete, as it was); old, on updates, is the record before it when the
collection's view rule allows. --snapshot first prints the matching records
as {"op":"snapshot","record":{…}}, then the changes after them, with nothing
lost or doubled in between.

The command reconnects by itself and resumes where it was, so no change is
missed or printed twice. To carry on later, pass the cursor of the last line
to --from-cursor. When that cursor is older than the platform keeps changes
for, a {"op":"resync",…} line says so and the command fails: read the
records again (or use --snapshot). It runs until interrupted, or until
--max lines.`,
		Example: `  sov db watch posts
  sov db watch posts --filter 'published == true' --snapshot
  sov db watch posts --from-cursor 42 --max 10 | jq -r .record.title`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Client = shared.Client(f, cmd)
			opts.Collection = args[0]
			if opts.Snapshot && opts.FromCursor != "" {
				return factory.UsageError("--snapshot and --from-cursor do not go together: a snapshot starts from the current records")
			}
			if opts.Max < 0 {
				return factory.UsageError("--max must not be negative")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Filter, "filter", "", "only changes whose record matches this expression, e.g. 'n > 5'")
	cmd.Flags().StringVar(&opts.FromCursor, "from-cursor", "", "resume after this cursor (the cursor of a line printed before)")
	cmd.Flags().BoolVar(&opts.Snapshot, "snapshot", false, "print the matching records first, then the changes after them")
	cmd.Flags().IntVar(&opts.Max, "max", 0, "exit after this many lines (0: run until interrupted)")
	return cmd
}

// line is what one printed line holds.
type line struct {
	Op      string          `json:"op"`
	Cursor  string          `json:"cursor,omitempty"`
	Record  json.RawMessage `json:"record,omitempty"`
	Old     json.RawMessage `json:"old,omitempty"`
	At      *time.Time      `json:"at,omitempty"`
	Message string          `json:"message,omitempty"`
}

// Run watches the collection and prints its changes until ctx ends, Max
// lines were printed, or the subscription fails.
func Run(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sub := c.Subscribe(ctx, opts.Collection, sovereign.SubscribeOptions{
		Filter: sovereign.Raw(opts.Filter), Cursor: opts.FromCursor, Snapshot: opts.Snapshot,
	})
	printed := 0
	for ch, err := range sub.All() {
		if err != nil {
			return err
		}
		if ch.Op == sovereign.OpReady {
			fmt.Fprintf(opts.IO.ErrOut, "watching %s from cursor %s\n", opts.Collection, ch.Cursor)
			continue
		}
		l := line{Op: ch.Op, Cursor: ch.Cursor, Record: ch.Record, Old: ch.Old, Message: ch.Message}
		if !ch.At.IsZero() {
			at := ch.At.UTC()
			l.At = &at
		}
		if err := writeLine(opts.IO.Out, l); err != nil {
			return err
		}
		if ch.Op == sovereign.OpResync && !opts.Snapshot {
			return errors.New("the cursor is older than the changes the platform keeps: read the records again, or watch with --snapshot")
		}
		printed++
		if opts.Max > 0 && printed >= opts.Max {
			return nil
		}
	}
	return nil
}

// flusher is a writer that buffers (a bufio.Writer).
type flusher interface{ Flush() error }

// writeLine writes l as one line of JSON and flushes it, so that a reader
// at the other end of a pipe sees each change at once.
func writeLine(w io.Writer, l line) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(l); err != nil {
		return err
	}
	if f, ok := w.(flusher); ok {
		return f.Flush()
	}
	return nil
}

// Package importcmd is `sov db import`: NDJSON records into a collection,
// in batches.
package importcmd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/db/progress"
	"github.com/sovereign-backend/sovereign/cli/db/shared"
	"github.com/sovereign-backend/sovereign/cli/factory"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov db import`.
type Options struct {
	IO *factory.IOStreams
	// Client returns a client of the project's data plane.
	Client func() (*sovereign.Client, error)
	// ErrTTY is true when stderr is a terminal: progress is drawn there.
	ErrTTY     bool
	Collection string
	// File is the NDJSON file; "" or "-" for stdin.
	File string
	// BatchSize is how many records each batch holds, 1 to 1000.
	BatchSize int
	// Upsert replaces the records whose id exists instead of failing.
	Upsert bool
	JSON   bool
}

// Result is what `sov db import --json` prints.
type Result struct {
	Collection string `json:"collection"`
	Imported   int64  `json:"imported"`
	Batches    int    `json:"batches"`
}

// NewCmdImport builds the command; runF replaces the run function in tests.
func NewCmdImport(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "import COLLECTION [FILE]",
		Short: "Load NDJSON records into a collection, in batches",
		Long: `Load records, one JSON object a line (as ` + "`sov db export`" + ` writes them), from FILE
or stdin, in batches of up to 1,000. Each batch is one transaction: all its
records or none. The first batch that fails stops the import, naming the line
at fault; the batches before it stay imported. Blank lines are skipped.

An "id" keeps the record's id; the other system fields are set anew. With
--upsert, a record whose id exists is replaced instead of failing, so that
an import can run again. On a terminal, stderr shows progress.`,
		Example: `  sov db import posts posts.ndjson
  sov db export posts | sov db import posts_copy
  sov db import posts posts.ndjson --upsert`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Client = shared.Client(f, cmd)
			opts.ErrTTY = shared.IsTerminal(opts.IO.ErrOut)
			opts.Collection = args[0]
			if len(args) == 2 {
				opts.File = args[1]
			}
			if opts.BatchSize < 1 || opts.BatchSize > sovereign.MaxBatchOps {
				return factory.UsageError("--batch-size must be 1 to %d", sovereign.MaxBatchOps)
			}
			if (opts.File == "" || opts.File == "-") && opts.IO.InTTY {
				return factory.UsageError("give the records in FILE or on stdin: sov db import %s posts.ndjson", opts.Collection)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().IntVar(&opts.BatchSize, "batch-size", sovereign.MaxBatchOps, "records per batch (transaction), 1 to 1000")
	cmd.Flags().BoolVar(&opts.Upsert, "upsert", false, "replace records whose id exists instead of failing")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the result as JSON")
	return cmd
}

// batch is the records read for the next batch and the lines they came
// from.
type batch struct {
	recs  []sovereign.Record
	lines []int
}

// Run imports the records.
func Run(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	in := opts.IO.In
	var size int64
	if opts.File != "" && opts.File != "-" {
		fh, err := os.Open(opts.File)
		if err != nil {
			return factory.UsageError("%v", err)
		}
		defer fh.Close()
		if st, err := fh.Stat(); err == nil && st.Mode().IsRegular() {
			size = st.Size()
		}
		in = fh
	}
	var bar *progress.Bar
	if opts.ErrTTY {
		if size > 0 {
			bar = progress.New(opts.IO.ErrOut, "Importing into "+opts.Collection, progress.Bytes, size)
		} else {
			bar = progress.New(opts.IO.ErrOut, "Importing into "+opts.Collection, progress.Records, 0)
		}
	}
	res, err := load(ctx, c, opts, in, size, bar)
	bar.Finish()
	if err != nil {
		return err
	}
	switch {
	case opts.JSON:
		return factory.PrintJSON(opts.IO.Out, res)
	case opts.IO.OutTTY:
		_, err = fmt.Fprintf(opts.IO.Out, "✓ Imported %s records into %s\n", progress.Count(res.Imported), opts.Collection)
	case opts.ErrTTY:
		fmt.Fprintf(opts.IO.ErrOut, "✓ Imported %s records into %s\n", progress.Count(res.Imported), opts.Collection)
	}
	return err
}

// load reads and sends the records; size is the input's size (0 when not
// known) for the bar.
func load(ctx context.Context, c *sovereign.Client, opts *Options, in io.Reader, size int64, bar *progress.Bar) (Result, error) {
	res := Result{Collection: opts.Collection}
	var cur batch
	send := func() error {
		if len(cur.recs) == 0 {
			return nil
		}
		if err := sendBatch(ctx, c, opts, cur); err != nil {
			return fmt.Errorf("%w; %d records before line %d are imported", err, res.Imported, cur.lines[0])
		}
		res.Imported += int64(len(cur.recs))
		res.Batches++
		if size == 0 {
			bar.Add(int64(len(cur.recs)))
		} else {
			bar.SetExtra(progress.Count(res.Imported) + " records")
			bar.Add(0)
		}
		cur = batch{}
		return nil
	}

	r := bufio.NewReaderSize(in, 1<<20)
	for line := 1; ; line++ {
		b, err := r.ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return res, fmt.Errorf("read line %d: %w", line, err)
		}
		if size > 0 {
			bar.Add(int64(len(b)))
		}
		if t := bytes.TrimSpace(b); len(t) > 0 {
			rec, perr := shared.ParseRecord(string(t))
			if perr != nil {
				return res, fmt.Errorf("line %d: %v; nothing from line %d on is imported, %d records before it are",
					line, perr, firstLine(cur, line), res.Imported)
			}
			cur.recs = append(cur.recs, rec)
			cur.lines = append(cur.lines, line)
			if len(cur.recs) == opts.BatchSize {
				if err := send(); err != nil {
					return res, err
				}
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
	}
	err := send()
	return res, err
}

func firstLine(b batch, line int) int {
	if len(b.lines) > 0 {
		return b.lines[0]
	}
	return line
}

// opIndex finds the index of the failing operation in a batch error's
// message: the data plane starts it with "ops[12]: …".
var opIndex = regexp.MustCompile(`^ops\[(\d+)\]: *`)

// sendBatch runs one batch; its error names the line at fault when the
// platform named the operation, else the batch's lines.
func sendBatch(ctx context.Context, c *sovereign.Client, opts *Options, b batch) error {
	bt := c.Batch()
	for _, rec := range b.recs {
		if opts.Upsert {
			bt.Upsert(opts.Collection, rec)
		} else {
			bt.Create(opts.Collection, rec)
		}
	}
	_, err := bt.Run(ctx)
	if err == nil {
		return nil
	}
	first, last := b.lines[0], b.lines[len(b.lines)-1]
	var e *sovereign.Error
	if errors.As(err, &e) {
		if m := opIndex.FindStringSubmatch(e.Message); m != nil {
			if i, aerr := strconv.Atoi(m[1]); aerr == nil && i < len(b.lines) {
				// The line replaces the operation's index in the batch,
				// which means nothing to the reader of the file.
				named := *e
				named.Message = strings.TrimPrefix(e.Message, m[0])
				return fmt.Errorf("line %d: %w (the batch of lines %d-%d was not imported)", b.lines[i], &named, first, last)
			}
		}
	}
	return fmt.Errorf("the batch of lines %d-%d was not imported: %w", first, last, err)
}

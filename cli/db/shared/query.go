package shared

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/factory"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// DefaultLimit is how many records `sov db query` and `sov db records list`
// show unless --limit says otherwise.
const DefaultLimit = 50

// Query is what `sov db query` and `sov db records list` take.
type Query struct {
	IO *factory.IOStreams
	// Client returns a client of the project's data plane.
	Client     func() (*sovereign.Client, error)
	Now        func() time.Time
	Collection string
	// Filter is the filter's text in the platform's expression language;
	// empty for every record.
	Filter string
	// Sort lists fields, each prefixed with - for descending.
	Sort []string
	// Limit is the most records shown; 0 for all.
	Limit  int
	Fields []string
	Expand []string
	// Count prints how many records match instead of the records.
	Count bool
	JSON  bool
}

// AddQueryFlags adds the flags of q to cmd; ValidateQuery checks them.
func AddQueryFlags(cmd *cobra.Command, q *Query, sort, fields, expand *[]string) {
	cmd.Flags().StringSliceVar(sort, "sort", nil, "sort by these fields, - for descending: --sort -created_at,title (default: id)")
	cmd.Flags().IntVarP(&q.Limit, "limit", "L", DefaultLimit, "show at most this many records; 0 for all")
	cmd.Flags().StringSliceVar(fields, "fields", nil, "show only these fields (the system fields always come)")
	cmd.Flags().StringSliceVar(expand, "expand", nil, "embed the records these relation fields point to")
	cmd.Flags().BoolVar(&q.Count, "count", false, "print how many records match, not the records")
	cmd.Flags().BoolVar(&q.JSON, "json", false, "print JSON")
}

// ValidateQuery finishes q from its list flags and checks it.
func ValidateQuery(q *Query, sort, fields, expand []string) error {
	q.Sort, q.Fields, q.Expand = SplitList(sort), SplitList(fields), SplitList(expand)
	if q.Limit < 0 {
		return factory.UsageError("--limit must not be negative")
	}
	return nil
}

// RunQuery prints the records q selects: a table on a terminal (the columns
// of the collection's schema), tab-separated values in a pipe, a JSON array
// with --json. When --limit cut the list short, a terminal is told so on
// stderr.
func RunQuery(ctx context.Context, q *Query) error {
	c, err := q.Client()
	if err != nil {
		return err
	}
	coll := sovereign.Collection[sovereign.Record](c, q.Collection)
	sq := sovereign.Query{Filter: sovereign.Raw(q.Filter), Sort: q.Sort, Fields: q.Fields, Expand: q.Expand}
	if q.Count {
		n, _, err := coll.Count(ctx, sq, sovereign.CountExact)
		if err != nil {
			return err
		}
		if q.JSON {
			return factory.PrintJSON(q.IO.Out, map[string]int64{"count": n})
		}
		_, err = fmt.Fprintln(q.IO.Out, n)
		return err
	}
	var spec *sovereign.CollectionSpec
	if !q.JSON {
		// The schema gives the columns their order.
		if spec, err = c.Collections().Get(ctx, q.Collection); err != nil {
			return err
		}
	}
	if q.Limit > 0 {
		// One more than shown says whether there are more.
		sq.Limit = q.Limit + 1
	}
	var recs []sovereign.Record
	for r, err := range coll.Query(ctx, sq) {
		if err != nil {
			return err
		}
		recs = append(recs, r)
	}
	more := q.Limit > 0 && len(recs) > q.Limit
	if more {
		recs = recs[:q.Limit]
	}
	if q.JSON {
		return PrintRecords(q.IO, q.Now(), nil, recs, true)
	}
	if err := PrintRecords(q.IO, q.Now(), Columns(spec, q.Fields), recs, false); err != nil {
		return err
	}
	if q.IO.OutTTY {
		switch {
		case more:
			fmt.Fprintf(q.IO.ErrOut, "Showing the first %d records; --limit N shows more, --limit 0 all.\n", q.Limit)
		case len(recs) == 0:
			fmt.Fprintln(q.IO.ErrOut, "No records.")
		}
	}
	return nil
}

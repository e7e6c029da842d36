// Package tableprinter prints rows for whoever reads them: on a terminal an
// aligned table with a header and relative times ("3 minutes ago"); in a
// pipe, tab-separated values with no header and RFC 3339 times, one record a
// line, ready for cut, awk and sort.
package tableprinter

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Printer collects rows and writes them on Render.
type Printer struct {
	out    io.Writer
	tty    bool
	now    time.Time
	header []string
	rows   [][]string
	row    []string
}

// New returns a printer to out. tty chooses the terminal format; now is the
// moment relative times count from. header is printed on a terminal only.
func New(out io.Writer, tty bool, now time.Time, header ...string) *Printer {
	return &Printer{out: out, tty: tty, now: now, header: header}
}

// Field adds a cell to the current row.
func (p *Printer) Field(s string) {
	// A tab or newline inside a value would split the cell or the record.
	s = strings.NewReplacer("\t", " ", "\n", " ", "\r", " ").Replace(s)
	p.row = append(p.row, s)
}

// Time adds a time cell: relative on a terminal ("-" when t is zero), RFC
// 3339 in UTC in a pipe (empty when t is zero).
func (p *Printer) Time(t time.Time) {
	switch {
	case p.tty && t.IsZero():
		p.Field("-")
	case p.tty:
		p.Field(RelativeTime(p.now, t))
	case t.IsZero():
		p.Field("")
	default:
		p.Field(t.UTC().Format(time.RFC3339))
	}
}

// EndRow finishes the current row.
func (p *Printer) EndRow() {
	p.rows = append(p.rows, p.row)
	p.row = nil
}

// Render writes the rows.
func (p *Printer) Render() error {
	if !p.tty {
		for _, r := range p.rows {
			if _, err := fmt.Fprintln(p.out, strings.Join(r, "\t")); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(p.out, 0, 4, 2, ' ', 0)
	if len(p.header) > 0 {
		fmt.Fprintln(tw, strings.ToUpper(strings.Join(p.header, "\t")))
	}
	for _, r := range p.rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// RelativeTime says how long before or after now t is, the way a person
// would: "just now", "3 minutes ago", "in 2 days".
func RelativeTime(now, t time.Time) string {
	d := now.Sub(t)
	future := d < 0
	if future {
		d = -d
	}
	var s string
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		s = plural(int(d/time.Minute), "minute")
	case d < 24*time.Hour:
		s = plural(int(d/time.Hour), "hour")
	case d < 30*24*time.Hour:
		s = plural(int(d/(24*time.Hour)), "day")
	case d < 365*24*time.Hour:
		s = plural(int(d/(30*24*time.Hour)), "month")
	default:
		s = plural(int(d/(365*24*time.Hour)), "year")
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// Package progress draws a one-line progress bar on a terminal, for the
// `sov db` commands that stream many records. Commands make one only when
// stderr is a terminal; a nil *Bar draws nothing, so they call it either way.
package progress

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Unit is what a bar counts.
type Unit int

const (
	// Records counts records.
	Records Unit = iota
	// Bytes counts bytes (of an input file), shown as KiB, MiB, …
	Bytes
)

// width is the number of cells of the bar itself.
const width = 24

// every is the least time between two redraws.
const every = 100 * time.Millisecond

// Bar is a progress bar drawn on one line of a terminal.
type Bar struct {
	w     io.Writer
	label string
	unit  Unit
	total int64
	done  int64
	now   func() time.Time
	drawn time.Time
	// Extra is shown after the figures, e.g. "1,000 records" beside a bar
	// of bytes.
	extra string
}

// New returns a bar on w. total is the expected count (0 when unknown: the
// bar then shows the count alone, and a total below the count is ignored,
// as with an estimate).
func New(w io.Writer, label string, unit Unit, total int64) *Bar {
	return &Bar{w: w, label: label, unit: unit, total: total, now: time.Now}
}

// Add counts n more, and redraws at most every 100 ms.
func (b *Bar) Add(n int64) {
	if b == nil {
		return
	}
	b.done += n
	if now := b.now(); now.Sub(b.drawn) >= every {
		b.drawn = now
		fmt.Fprintf(b.w, "\r%s\033[K", b.Line())
	}
}

// SetExtra sets the text shown after the figures.
func (b *Bar) SetExtra(s string) {
	if b != nil {
		b.extra = s
	}
}

// Finish clears the bar's line, so that what follows starts clean.
func (b *Bar) Finish() {
	if b != nil {
		fmt.Fprint(b.w, "\r\033[K")
	}
}

// Line is the bar as text: "label [#####·····]  42%  4,200/10,000 records".
func (b *Bar) Line() string {
	var s strings.Builder
	s.WriteString(b.label)
	if b.total > 0 && b.done <= b.total {
		filled := int(b.done * width / b.total)
		fmt.Fprintf(&s, " [%s%s] %3d%%  %s/%s", strings.Repeat("#", filled), strings.Repeat("·", width-filled),
			b.done*100/b.total, b.format(b.done), b.format(b.total))
	} else {
		fmt.Fprintf(&s, "  %s", b.format(b.done))
	}
	if b.unit == Records {
		s.WriteString(" records")
	}
	if b.extra != "" {
		s.WriteString("  " + b.extra)
	}
	return s.String()
}

func (b *Bar) format(n int64) string {
	if b.unit == Bytes {
		return Size(n)
	}
	return Count(n)
}

// Count writes n with thousands separators: 1,234,567.
func Count(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out.WriteByte(',')
		}
		out.WriteRune(r)
	}
	if neg {
		return "-" + out.String()
	}
	return out.String()
}

// Size writes a number of bytes in binary units: 512 B, 1.5 KiB, 3.2 MiB.
func Size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

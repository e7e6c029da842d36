package tui

import (
	"github.com/charmbracelet/bubbles/table"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/mattn/go-runewidth"
)

// column describes one column of a dataTable.
type column struct {
	// title is the column's header.
	title string
	// min is the narrowest the column is squeezed to when the window is
	// too narrow for every column's content.
	min int
	// max caps the width the column takes from its content; 0 means none.
	max int
	// grow marks the column that takes the width left over.
	grow bool
}

// cell is one table cell: its text, and a style when it is coloured.
type cell struct {
	text  string
	style *lipgloss.Style
}

// plain is a cell without a style.
func plain(s string) cell { return cell{text: s} }

// styled is a cell drawn with st.
func styled(s string, st lipgloss.Style) cell { return cell{text: s, style: &st} }

// cellPadding is the horizontal padding table.DefaultStyles puts around
// every cell and header: one space each side.
const cellPadding = 2

// dataTable is a bubbles table whose column widths follow the window and
// the content: each column is as wide as its widest cell (within its cap),
// the grow column takes what is left, and when the window is too narrow the
// widest squeezable columns give way first.
//
// Coloured cells are rendered before they reach the table. bubbles/table
// measures and truncates cells with go-runewidth, which counts the bytes of
// escape sequences as visible, so a coloured cell's column is made at least
// as wide as that count and never squeezed: it is then never cut inside an
// escape sequence.
type dataTable struct {
	cols   []column
	rows   [][]cell
	model  table.Model
	width  int
	height int
}

func newDataTable(st Styles, cols []column) *dataTable {
	t := &dataTable{cols: cols, model: table.New(table.WithStyles(st.Table), table.WithFocused(true))}
	t.relayout()
	return t
}

// SetSize gives the table its width and height in cells, the header
// included.
func (t *dataTable) SetSize(width, height int) {
	t.width, t.height = width, height
	t.relayout()
}

// SetRows replaces the rows; the cursor stays where it was when it can.
// Every row has one cell per column.
func (t *dataTable) SetRows(rows [][]cell) {
	t.rows = rows
	t.relayout()
}

// Len is the number of rows.
func (t *dataTable) Len() int { return len(t.rows) }

// Update moves the cursor on the table's keys.
func (t *dataTable) Update(msg tea.Msg) tea.Cmd {
	var cmd tea.Cmd
	t.model, cmd = t.model.Update(msg)
	return cmd
}

// View draws the table.
func (t *dataTable) View() string { return t.model.View() }

func (t *dataTable) relayout() {
	rendered := make([]table.Row, len(t.rows))
	natural := make([]int, len(t.cols))
	rigid := make([]bool, len(t.cols))
	for i, c := range t.cols {
		natural[i] = runewidth.StringWidth(c.title)
	}
	for r, row := range t.rows {
		rendered[r] = make(table.Row, len(t.cols))
		for i := range t.cols {
			var c cell
			if i < len(row) {
				c = row[i]
			}
			s := c.text
			if c.style != nil {
				s = c.style.Render(c.text)
				if s != c.text {
					rigid[i] = true
				}
			}
			rendered[r][i] = s
			natural[i] = max(natural[i], runewidth.StringWidth(s))
		}
	}
	widths := fitWidths(t.cols, natural, rigid, t.width-cellPadding*len(t.cols))
	cols := make([]table.Column, len(t.cols))
	for i, c := range t.cols {
		cols[i] = table.Column{Title: c.title, Width: widths[i]}
	}
	t.model.SetColumns(cols)
	t.model.SetRows(rendered)
	if t.model.Cursor() < 0 && len(rendered) > 0 {
		t.model.SetCursor(0) // an empty table left it at -1
	}
	t.model.SetWidth(max(t.width, 0))
	t.model.SetHeight(max(t.height, 2))
}

// fitWidths chooses column widths that add up to avail when it can: natural
// widths (capped by max unless rigid), the surplus to the grow column, and a
// shortfall taken from the widest non-rigid columns down to their min.
func fitWidths(cols []column, natural []int, rigid []bool, avail int) []int {
	w := make([]int, len(cols))
	total := 0
	for i, c := range cols {
		w[i] = natural[i]
		if c.max > 0 && !rigid[i] {
			w[i] = min(w[i], c.max)
		}
		total += w[i]
	}
	if total < avail {
		for i, c := range cols {
			if c.grow {
				w[i] += avail - total
				break
			}
		}
		return w
	}
	for total > avail {
		widest := -1
		for i, c := range cols {
			if rigid[i] || w[i] <= max(c.min, 1) {
				continue
			}
			if widest < 0 || w[i] > w[widest] {
				widest = i
			}
		}
		if widest < 0 {
			break
		}
		w[widest]--
		total--
	}
	return w
}

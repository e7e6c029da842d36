package tui

import (
	"fmt"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
)

// page is one screen of the monitor. The root model owns the data and the
// clock; a page draws them and handles the keys the root does not take.
type page interface {
	// Title names the page in the tab bar.
	Title() string
	// SetSize gives the page the cells it may draw in.
	SetSize(width, height int)
	// SetData hands the page the latest good snapshot (nil before the first
	// one), when it arrived, and the time to compute ages against.
	SetData(snap *Snapshot, at, now time.Time)
	// Update handles a message the root did not take.
	Update(msg tea.Msg) tea.Cmd
	// View draws the page in at most its size.
	View() string
}

// notLoggedIn is what the pages that need credentials say without them.
const notLoggedIn = "not logged in: run sov login"

// overviewPage shows both planes' status and dependency checks, and counts
// of regions and projects.
type overviewPage struct {
	st     Styles
	width  int
	height int
	snap   *Snapshot
	at     time.Time // when snap arrived
}

func newOverviewPage(st Styles) *overviewPage { return &overviewPage{st: st} }

func (p *overviewPage) Title() string { return "Overview" }

func (p *overviewPage) SetSize(width, height int) { p.width, p.height = width, height }

func (p *overviewPage) SetData(snap *Snapshot, at, _ time.Time) { p.snap, p.at = snap, at }

func (p *overviewPage) Update(tea.Msg) tea.Cmd { return nil }

// panelMinWidth is the narrowest a plane's panel is drawn side by side with
// the other; below twice that the panels are stacked.
const panelMinWidth = 40

func (p *overviewPage) View() string {
	if p.snap == nil {
		return p.st.Muted.Render("loading…")
	}
	var body string
	if p.width >= 2*panelMinWidth {
		w := p.width / 2
		body = lipgloss.JoinHorizontal(lipgloss.Top,
			p.panel("Control plane", p.snap.ControlPlane, w),
			p.panel("Data plane", p.snap.DataPlane, p.width-w))
	} else {
		body = lipgloss.JoinVertical(lipgloss.Left,
			p.panel("Control plane", p.snap.ControlPlane, p.width),
			p.panel("Data plane", p.snap.DataPlane, p.width))
	}
	body = lipgloss.JoinVertical(lipgloss.Left, body, p.summary())
	return lipgloss.NewStyle().MaxWidth(max(p.width, 1)).MaxHeight(max(p.height, 1)).Render(body)
}

// panel draws one plane in a frame width cells wide.
func (p *overviewPage) panel(title string, pl Plane, width int) string {
	st := p.st
	var state string
	switch {
	case !pl.Reachable:
		state = st.Bad.Render("● unreachable")
	case !pl.Ready:
		state = st.Bad.Render("● not ready")
	default:
		state = st.Good.Render("● ready")
	}
	// The frame takes a border and a padding cell each side.
	inner := max(width-4, 10)
	lines := []string{st.Title.Render(title) + "  " + state}
	field := func(name, value string) {
		lines = append(lines, hang(st.Label.Render(fmt.Sprintf("%-8s ", name)), value, inner))
	}
	field("url", pl.URL)
	if !pl.Reachable {
		field("error", st.Bad.Render(oneLine(pl.Error)))
	} else {
		field("version", pl.Version)
		if pl.Region != "" {
			field("region", pl.Region)
		}
		// As of the snapshot: a plane not heard from since may be down.
		field("uptime", Span(p.at.Sub(pl.StartedAt)))
		if len(pl.Checks) > 0 {
			lines = append(lines, st.Label.Render("checks"))
		}
		nameW := 0
		for _, c := range pl.Checks {
			nameW = max(nameW, lipgloss.Width(c.Name))
		}
		for _, c := range pl.Checks {
			mark, detail := st.Good.Render("✓"), Latency(c.Latency)
			if !c.OK {
				mark = st.Bad.Render("✗")
				detail = st.Bad.Render(strings.TrimSpace(Latency(c.Latency) + " " + oneLine(c.Reason)))
			}
			lines = append(lines, hang(fmt.Sprintf("  %s %-*s  ", mark, nameW, c.Name), detail, inner))
		}
	}
	// The frame's border takes one cell each side; Width counts the padding.
	return st.Panel.Width(max(width-2, 1)).Render(strings.Join(lines, "\n"))
}

// hang writes prefix then value, wrapping value within width cells and
// indenting its further lines under its first.
func hang(prefix, value string, width int) string {
	pw := lipgloss.Width(prefix)
	wrapped := lipgloss.NewStyle().Width(max(width-pw, 8)).Render(value)
	lines := strings.Split(wrapped, "\n")
	for i := range lines {
		if i == 0 {
			lines[i] = prefix + lines[i]
		} else {
			lines[i] = strings.Repeat(" ", pw) + lines[i]
		}
	}
	return strings.Join(lines, "\n")
}

// summary counts regions and projects by state.
func (p *overviewPage) summary() string {
	st, s := p.st, p.snap
	if s.NotLoggedIn {
		return " " + st.Muted.Render("regions and projects: "+notLoggedIn)
	}
	healthy := 0
	for _, r := range s.Regions {
		if r.Healthy {
			healthy++
		}
	}
	regions := fmt.Sprintf("%d regions (%d healthy)", len(s.Regions), healthy)
	if s.RegionsError != "" {
		regions = st.Bad.Render("regions: " + s.RegionsError)
	}
	counts := map[string]int{}
	for _, pr := range s.Projects {
		counts[pr.State]++
	}
	var parts []string
	for _, state := range []string{StateActive, StateProvisioning, StatePaused, StateDeleting, StateDeleted, StateUnknown} {
		if n := counts[state]; n > 0 {
			parts = append(parts, st.State(state).Render(fmt.Sprintf("%d %s", n, state)))
		}
	}
	projects := fmt.Sprintf("%d projects", len(s.Projects))
	if len(parts) > 0 {
		projects += " (" + strings.Join(parts, ", ") + ")"
	}
	if s.ProjectsError != "" {
		projects = st.Bad.Render("projects: " + s.ProjectsError)
	}
	return " " + regions + " · " + projects
}

// listPage is a page that lists one part of the snapshot in a table:
// Regions and Projects.
type listPage struct {
	st     Styles
	title  string
	none   string // said when the list is empty
	table  *dataTable
	width  int
	height int
	snap   *Snapshot
	// errOf returns why the list could not be had (completely).
	errOf func(*Snapshot) string
	// rowsOf makes the table's rows.
	rowsOf func(s *Snapshot, now time.Time) [][]cell
}

func (p *listPage) Title() string { return p.title }

func (p *listPage) SetSize(width, height int) {
	p.width, p.height = width, height
	p.resizeTable()
}

func (p *listPage) SetData(snap *Snapshot, _, now time.Time) {
	p.snap = snap
	if snap == nil {
		return
	}
	p.table.SetRows(p.rowsOf(snap, now))
	p.resizeTable()
}

// resizeTable leaves a line above the table for the error when a partial
// list is shown with one.
func (p *listPage) resizeTable() {
	h := p.height
	if p.banner() != "" {
		h--
	}
	p.table.SetSize(p.width, max(h, 2))
}

// banner is the error shown above a partial list.
func (p *listPage) banner() string {
	if p.snap == nil || p.snap.NotLoggedIn || p.table.Len() == 0 {
		return ""
	}
	return p.errOf(p.snap)
}

func (p *listPage) Update(msg tea.Msg) tea.Cmd { return p.table.Update(msg) }

// View draws the table, or a message instead of it before the first
// snapshot, without credentials, when the list failed or is empty.
func (p *listPage) View() string {
	st := p.st
	switch {
	case p.snap == nil:
		return st.Muted.Render("loading…")
	case p.snap.NotLoggedIn:
		return st.Warn.Render(notLoggedIn)
	case p.table.Len() == 0 && p.errOf(p.snap) != "":
		return st.Bad.Render(oneLine(p.errOf(p.snap)))
	case p.table.Len() == 0:
		return st.Muted.Render(p.none)
	case p.banner() != "":
		line := lipgloss.NewStyle().MaxWidth(max(p.width, 1)).Render(st.Bad.Render(oneLine(p.banner())))
		return line + "\n" + p.table.View()
	default:
		return p.table.View()
	}
}

// newRegionsPage lists the regions and their data planes' health.
func newRegionsPage(st Styles) *listPage {
	return &listPage{
		st: st, title: "Regions", none: "no regions",
		table: newDataTable(st, []column{
			{title: "NAME", min: 6, max: 24},
			{title: "URL", min: 10, grow: true},
			{title: "HEALTHY", min: 7},
			{title: "LAST HEARTBEAT", min: 8},
		}),
		errOf: func(s *Snapshot) string { return s.RegionsError },
		rowsOf: func(s *Snapshot, now time.Time) [][]cell {
			rows := make([][]cell, 0, len(s.Regions))
			for _, r := range s.Regions {
				healthy := styled("yes", st.Good)
				if !r.Healthy {
					healthy = styled("no", st.Bad)
				}
				rows = append(rows, []cell{plain(r.Name), plain(r.URL), healthy, plain(Ago(now, r.LastHeartbeat))})
			}
			return rows
		},
	}
}

// newProjectsPage lists the projects of every organization of the caller.
func newProjectsPage(st Styles) *listPage {
	return &listPage{
		st: st, title: "Projects", none: "no projects",
		table: newDataTable(st, []column{
			{title: "NAME", min: 6, max: 32},
			{title: "REF", min: 6},
			{title: "ORG", min: 5, max: 24},
			{title: "REGION", min: 6, max: 16},
			{title: "CREATED", min: 7},
			// STATE is coloured: after it, a selected row's highlight
			// ends, so it comes late.
			{title: "STATE", min: 5},
			{title: "LAST ERROR", min: 10, grow: true},
		}),
		errOf: func(s *Snapshot) string { return s.ProjectsError },
		rowsOf: func(s *Snapshot, now time.Time) [][]cell {
			rows := make([][]cell, 0, len(s.Projects))
			for _, pr := range s.Projects {
				org := pr.OrgName
				if org == "" {
					org = pr.OrgID
				}
				rows = append(rows, []cell{
					plain(pr.Name), plain(pr.Ref), plain(org), plain(pr.Region),
					plain(Ago(now, pr.CreatedAt)),
					styled(pr.State, st.State(pr.State)),
					plain(oneLine(pr.LastError)),
				})
			}
			return rows
		},
	}
}

// oneLine folds a possibly multi-line message onto one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

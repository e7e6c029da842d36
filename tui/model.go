package tui

import (
	"cmp"
	"context"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
)

// Config configures a [Model].
type Config struct {
	// Source is where snapshots come from. Required.
	Source Source
	// Interval is the pause between the end of one fetch and the start of
	// the next; 0 means 2 s.
	Interval time.Duration
	// Timeout bounds one fetch; 0 means 10 s.
	Timeout time.Duration
	// Now returns the current time; nil means time.Now. Tests set it to
	// make relative times predictable.
	Now func() time.Time
	// Styles is the look; nil means DefaultStyles().
	Styles *Styles
}

// Pages of the monitor, in tab order.
const (
	PageOverview = iota
	PageRegions
	PageProjects
)

// Messages the model sends itself through its commands.
type (
	// snapshotMsg carries a fetched snapshot.
	snapshotMsg struct {
		snap Snapshot
		at   time.Time
	}
	// fetchErrMsg carries a failed fetch's error.
	fetchErrMsg struct {
		err error
		at  time.Time
	}
	// tickMsg says the refresh interval has passed. Only the tick of the
	// latest schedule (seq) starts a fetch, so a manual refresh does not
	// leave two tick chains running.
	tickMsg struct{ seq int }
	// clockMsg redraws relative times once a second.
	clockMsg struct{}
)

// Model is the monitor's root model: it owns the data, the refresh schedule
// and the keys that switch pages, and routes everything else to the active
// page.
type Model struct {
	ctx      context.Context
	src      Source
	interval time.Duration
	timeout  time.Duration
	now      func() time.Time
	st       Styles
	keys     keyMap
	help     help.Model

	pages  []page
	active int
	width  int
	height int

	snap     *Snapshot // the last good snapshot; nil before the first
	updated  time.Time // when snap arrived
	err      error     // the last fetch's error; nil after a success
	errAt    time.Time // when err arrived
	fetching bool      // a fetch command is in flight
	tickSeq  int       // the schedule whose tickMsg is current
}

// New returns the monitor's model. Fetches run under ctx: ending it stops
// a fetch in flight.
func New(ctx context.Context, cfg Config) *Model {
	st := DefaultStyles()
	if cfg.Styles != nil {
		st = *cfg.Styles
	}
	h := help.New()
	h.Styles.ShortKey = st.Title
	h.Styles.FullKey = st.Title
	m := &Model{
		ctx:      ctx,
		src:      cfg.Source,
		interval: cmp.Or(cfg.Interval, 2*time.Second),
		timeout:  cmp.Or(cfg.Timeout, 10*time.Second),
		now:      cfg.Now,
		st:       st,
		keys:     defaultKeyMap(),
		help:     h,
	}
	if m.now == nil {
		m.now = time.Now
	}
	m.pages = []page{newOverviewPage(st), newRegionsPage(st), newProjectsPage(st)}
	return m
}

// Init starts the first fetch and the clock.
func (m *Model) Init() tea.Cmd {
	return tea.Batch(m.startFetch(), clock())
}

// Update handles a message: data and ticks, window size and the global
// keys here; other keys go to the active page.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.help.Width = msg.Width
		m.layout()
		return m, nil
	case snapshotMsg:
		m.fetching = false
		m.snap, m.updated, m.err = &msg.snap, msg.at, nil
		m.refreshPages()
		return m, m.scheduleTick()
	case fetchErrMsg:
		m.fetching = false
		m.err, m.errAt = msg.err, msg.at
		return m, m.scheduleTick()
	case tickMsg:
		if msg.seq != m.tickSeq {
			return m, nil
		}
		return m, m.startFetch()
	case clockMsg:
		m.refreshPages()
		return m, clock()
	case tea.KeyMsg:
		switch {
		case key.Matches(msg, m.keys.Quit):
			return m, tea.Quit
		case key.Matches(msg, m.keys.Next):
			m.active = (m.active + 1) % len(m.pages)
			return m, nil
		case key.Matches(msg, m.keys.Prev):
			m.active = (m.active + len(m.pages) - 1) % len(m.pages)
			return m, nil
		case key.Matches(msg, m.keys.Page1):
			m.active = PageOverview
			return m, nil
		case key.Matches(msg, m.keys.Page2):
			m.active = PageRegions
			return m, nil
		case key.Matches(msg, m.keys.Page3):
			m.active = PageProjects
			return m, nil
		case key.Matches(msg, m.keys.Refresh):
			return m, m.startFetch()
		case key.Matches(msg, m.keys.Help):
			m.help.ShowAll = !m.help.ShowAll
			m.layout()
			return m, nil
		}
	}
	return m, m.pages[m.active].Update(msg)
}

// startFetch returns the command that fetches a snapshot, or nil when one
// is already in flight.
func (m *Model) startFetch() tea.Cmd {
	if m.fetching {
		return nil
	}
	m.fetching = true
	ctx, src, timeout, now := m.ctx, m.src, m.timeout, m.now
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		snap, err := src.Fetch(ctx)
		if err != nil {
			return fetchErrMsg{err: err, at: now()}
		}
		return snapshotMsg{snap: snap, at: now()}
	}
}

// scheduleTick starts a new refresh schedule, superseding any other.
func (m *Model) scheduleTick() tea.Cmd {
	m.tickSeq++
	seq := m.tickSeq
	return tea.Tick(m.interval, func(time.Time) tea.Msg { return tickMsg{seq: seq} })
}

func clock() tea.Cmd {
	return tea.Tick(time.Second, func(time.Time) tea.Msg { return clockMsg{} })
}

// refreshPages hands the pages the data again, so relative times move on.
func (m *Model) refreshPages() {
	now := m.now()
	for _, p := range m.pages {
		p.SetData(m.snap, m.updated, now)
	}
}

// layout gives the active and inactive pages alike the body's size: the
// window less the tab bar, the status line and the help.
func (m *Model) layout() {
	bodyH := m.height - 2 - lipgloss.Height(m.help.View(m.keys))
	for _, p := range m.pages {
		p.SetSize(m.width, max(bodyH, 1))
	}
}

// View draws the tab bar, the active page, the status line and the help.
func (m *Model) View() string {
	if m.width == 0 {
		return "starting…"
	}
	helpView := m.help.View(m.keys)
	bodyH := max(m.height-2-lipgloss.Height(helpView), 1)
	body := lipgloss.NewStyle().Height(bodyH).MaxHeight(bodyH).MaxWidth(m.width).
		Render(m.pages[m.active].View())
	return lipgloss.JoinVertical(lipgloss.Left, m.tabBar(), body, m.statusLine(), helpView)
}

// tabBar draws the page tabs, and the data's age at the right.
func (m *Model) tabBar() string {
	tabs := make([]string, len(m.pages))
	for i, p := range m.pages {
		label := string(rune('1'+i)) + " " + p.Title()
		if i == m.active {
			tabs[i] = m.st.TabActive.Render(label)
		} else {
			tabs[i] = m.st.TabInactive.Render(label)
		}
	}
	left := lipgloss.JoinHorizontal(lipgloss.Top, tabs...)
	age := "loading…"
	if m.snap != nil {
		age = "updated " + Ago(m.now(), m.updated)
	}
	right := m.st.Updated.Render(age + " ")
	gap := m.width - lipgloss.Width(left) - lipgloss.Width(right)
	if gap < 1 {
		return lipgloss.NewStyle().MaxWidth(m.width).Render(left)
	}
	return left + strings.Repeat(" ", gap) + right
}

// statusLine says whether the last refresh failed, and how old the data
// on screen is then.
func (m *Model) statusLine() string {
	var s string
	if m.err != nil {
		s = "refresh failed " + Ago(m.now(), m.errAt)
		if m.snap != nil {
			s += " (showing data from " + Ago(m.now(), m.updated) + ")"
		}
		s += ": " + oneLine(m.err.Error())
		s = m.st.Error.Render(s)
	} else {
		s = m.st.Info.Render("refreshing every " + Span(m.interval))
	}
	return lipgloss.NewStyle().MaxWidth(m.width).Render(" " + s)
}

// ActivePage returns the index of the page on screen (PageOverview …).
func (m *Model) ActivePage() int { return m.active }

// Snapshot returns the last good snapshot and when it arrived; nil before
// the first.
func (m *Model) Snapshot() (*Snapshot, time.Time) { return m.snap, m.updated }

// Err returns the last fetch's error, nil when it succeeded.
func (m *Model) Err() error { return m.err }

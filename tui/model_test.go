package tui

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
)

// t0 is the tests' "now".
var t0 = time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)

// fakeSource answers Fetch with its results in turn, the last one again
// when they run out, and counts the calls.
type fakeSource struct {
	mu      sync.Mutex
	results []fakeResult
	calls   int
}

type fakeResult struct {
	snap Snapshot
	err  error
}

func (f *fakeSource) Fetch(ctx context.Context) (Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := ctx.Deadline(); !ok {
		return Snapshot{}, errors.New("fetch without a deadline")
	}
	r := f.results[min(f.calls, len(f.results)-1)]
	f.calls++
	return r.snap, r.err
}

func (f *fakeSource) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// testSnapshot has both planes ready, two regions and three projects of two
// organizations.
func testSnapshot() Snapshot {
	return Snapshot{
		ControlPlane: Plane{
			URL: "http://127.0.0.1:7070", Reachable: true, Ready: true, Version: "v0.3.1",
			StartedAt: t0.Add(-3*time.Hour - 12*time.Minute),
			Checks:    []Check{{Name: "postgres", OK: true, Latency: 1200 * time.Microsecond}},
		},
		DataPlane: Plane{
			URL: "http://127.0.0.1:7071", Reachable: true, Ready: false, Version: "v0.3.1", Region: "local",
			StartedAt: t0.Add(-5 * time.Minute),
			Checks: []Check{
				{Name: "postgres", OK: true, Latency: 800 * time.Microsecond},
				{Name: "valkey", OK: false, Reason: "dial tcp 127.0.0.1:6379: connection refused", Latency: 35 * time.Millisecond},
			},
		},
		Regions: []Region{
			{Name: "local", URL: "http://127.0.0.1:7071", Healthy: true, LastHeartbeat: t0.Add(-4 * time.Second)},
			{Name: "eu-1", URL: "https://eu-1.example.net", Healthy: false, LastHeartbeat: t0.Add(-3 * time.Minute)},
		},
		Projects: []Project{
			{ID: "p1", Name: "shop", Ref: "abcdefghijkl", OrgID: "o1", OrgName: "acme", Region: "local", State: StateActive, CreatedAt: t0.Add(-2 * time.Hour)},
			{ID: "p2", Name: "blog", Ref: "mnopqrstuvwx", OrgID: "o1", OrgName: "acme", Region: "eu-1", State: StateProvisioning, CreatedAt: t0.Add(-30 * time.Second), LastError: "region eu-1 unreachable: connection refused"},
			{ID: "p3", Name: "notes", Ref: "yz0123456789", OrgID: "o2", OrgName: "side", Region: "local", State: StatePaused, CreatedAt: t0.Add(-72 * time.Hour)},
		},
	}
}

// newTestModel returns a model on src whose clock reads *now, sized 120x30.
func newTestModel(t *testing.T, src Source, now *time.Time) *Model {
	t.Helper()
	m := New(t.Context(), Config{Source: src, Interval: time.Hour, Now: func() time.Time { return *now }})
	update(t, m, tea.WindowSizeMsg{Width: 120, Height: 30})
	return m
}

// update sends msg to m and returns the command it answered with.
func update(t *testing.T, m *Model, msg tea.Msg) tea.Cmd {
	t.Helper()
	next, cmd := m.Update(msg)
	if next != m {
		t.Fatalf("Update returned another model")
	}
	return cmd
}

func keyRunes(s string) tea.KeyMsg { return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)} }

// mustContain fails unless view holds every one of want.
func mustContain(t *testing.T, view string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(view, w) {
			t.Errorf("view lacks %q:\n%s", w, view)
		}
	}
}

func mustNotContain(t *testing.T, view string, unwanted ...string) {
	t.Helper()
	for _, w := range unwanted {
		if strings.Contains(view, w) {
			t.Errorf("view has %q:\n%s", w, view)
		}
	}
}

// lineWith returns the line of view that holds s.
func lineWith(t *testing.T, view, s string) string {
	t.Helper()
	for _, l := range strings.Split(view, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	t.Fatalf("no line with %q:\n%s", s, view)
	return ""
}

func TestPagesShowSnapshot(t *testing.T) {
	now := t0
	m := newTestModel(t, &fakeSource{}, &now)
	if v := m.View(); !strings.Contains(v, "loading…") {
		t.Errorf("before data, view lacks loading:\n%s", v)
	}
	update(t, m, snapshotMsg{snap: testSnapshot(), at: t0})
	now = t0.Add(4 * time.Second)
	update(t, m, clockMsg{})

	v := m.View()
	mustContain(t, v, "1 Overview", "2 Regions", "3 Projects", "updated 4s ago",
		"Control plane", "Data plane", "● ready", "● not ready", "v0.3.1", "local", "3h12m", "5m",
		"postgres", "1.2ms", "800µs",
		"2 regions (1 healthy)", "3 projects (1 active, 1 provisioning, 1 paused)")

	// Uptimes are as of the snapshot, not of the clock.
	mustNotContain(t, v, "3h12m4s", "5m4s")
	mustContain(t, lineWith(t, v, "valkey"), "✗", "35ms", "dial tcp 127.0.0.1:6379")
	mustContain(t, v, "refused")

	update(t, m, keyRunes("2"))
	if m.ActivePage() != PageRegions {
		t.Fatalf("after 2: page %d", m.ActivePage())
	}
	v = m.View()
	mustContain(t, v, "NAME", "URL", "HEALTHY", "LAST HEARTBEAT")
	mustContain(t, lineWith(t, v, "http://127.0.0.1:7071"), "local", "yes", "8s ago")
	mustContain(t, lineWith(t, v, "eu-1.example.net"), "eu-1", "no", "3m4s ago")

	update(t, m, keyRunes("3"))
	if m.ActivePage() != PageProjects {
		t.Fatalf("after 3: page %d", m.ActivePage())
	}
	v = m.View()
	mustContain(t, v, "REF", "ORG", "REGION", "STATE", "CREATED", "LAST ERROR")
	mustContain(t, lineWith(t, v, "shop"), "abcdefghijkl", "acme", "local", "active", "2h ago")
	mustContain(t, lineWith(t, v, "blog"), "provisioning", "34s ago", "region eu-1 unreachable: connection refused")
	mustContain(t, lineWith(t, v, "notes"), "side", "paused", "3d ago")
}

func TestPageSwitchingKeys(t *testing.T) {
	now := t0
	m := newTestModel(t, &fakeSource{}, &now)
	steps := []struct {
		key  tea.KeyMsg
		want int
	}{
		{tea.KeyMsg{Type: tea.KeyTab}, PageRegions},
		{tea.KeyMsg{Type: tea.KeyTab}, PageProjects},
		{tea.KeyMsg{Type: tea.KeyTab}, PageOverview},
		{tea.KeyMsg{Type: tea.KeyShiftTab}, PageProjects},
		{tea.KeyMsg{Type: tea.KeyShiftTab}, PageRegions},
		{keyRunes("1"), PageOverview},
		{keyRunes("3"), PageProjects},
		{keyRunes("2"), PageRegions},
	}
	for i, s := range steps {
		update(t, m, s.key)
		if got := m.ActivePage(); got != s.want {
			t.Fatalf("step %d (%s): page %d, want %d", i, s.key, got, s.want)
		}
	}
}

func TestTickFetches(t *testing.T) {
	now := t0
	src := &fakeSource{results: []fakeResult{{snap: testSnapshot()}}}
	m := newTestModel(t, src, &now)

	// Init fetches at once (and starts the clock).
	batch, ok := m.Init()().(tea.BatchMsg)
	if !ok || len(batch) != 2 {
		t.Fatalf("Init: want a batch of fetch and clock, got %#v", batch)
	}
	msg := batch[0]()
	if _, ok := msg.(snapshotMsg); !ok || src.Calls() != 1 {
		t.Fatalf("Init's first command: %T after %d calls, want a snapshot after 1", msg, src.Calls())
	}
	// A tick while the first fetch is still being delivered starts nothing.
	if cmd := update(t, m, tickMsg{seq: m.tickSeq}); cmd != nil {
		t.Fatalf("tick during a fetch started another")
	}
	if cmd := update(t, m, msg); cmd == nil {
		t.Fatalf("a snapshot scheduled no tick")
	}
	// The current tick fetches; a stale one does not.
	if cmd := update(t, m, tickMsg{seq: m.tickSeq - 1}); cmd != nil {
		t.Fatalf("a stale tick started a fetch")
	}
	cmd := update(t, m, tickMsg{seq: m.tickSeq})
	if cmd == nil {
		t.Fatalf("tick started no fetch")
	}
	if msg := cmd(); src.Calls() != 2 {
		t.Fatalf("tick's command made %d calls (%T), want 2", src.Calls(), msg)
	}
}

func TestRefreshKey(t *testing.T) {
	now := t0
	src := &fakeSource{results: []fakeResult{{snap: testSnapshot()}}}
	m := newTestModel(t, src, &now)
	cmd := update(t, m, keyRunes("r"))
	if cmd == nil {
		t.Fatalf("r started no fetch")
	}
	if again := update(t, m, keyRunes("r")); again != nil {
		t.Fatalf("r during a fetch started another")
	}
	msg := cmd()
	update(t, m, msg)
	if snap, at := m.Snapshot(); snap == nil || !at.Equal(t0) || src.Calls() != 1 {
		t.Fatalf("after refresh: snapshot %v at %v, %d calls", snap != nil, at, src.Calls())
	}
	old := m.tickSeq
	if cmd := update(t, m, keyRunes("r")); cmd == nil {
		t.Fatalf("r after the fetch ended started none")
	}
	if m.tickSeq != old {
		t.Fatalf("r changed the schedule before its fetch ended")
	}
}

func TestErrorKeepsLastData(t *testing.T) {
	now := t0
	m := newTestModel(t, &fakeSource{}, &now)
	update(t, m, keyRunes("3"))
	update(t, m, snapshotMsg{snap: testSnapshot(), at: t0})
	now = t0.Add(12 * time.Second)
	update(t, m, fetchErrMsg{err: errors.New("sovereign: unavailable: connection refused"), at: t0.Add(10 * time.Second)})

	if m.Err() == nil {
		t.Fatalf("error not kept")
	}
	v := m.View()
	mustContain(t, v, "updated 12s ago", "refresh failed 2s ago (showing data from 12s ago): sovereign: unavailable: connection refused", "shop", "blog", "notes")

	// The next good snapshot clears the error.
	update(t, m, snapshotMsg{snap: testSnapshot(), at: now})
	if m.Err() != nil {
		t.Fatalf("error kept after a good snapshot")
	}
	mustNotContain(t, m.View(), "refresh failed")
}

func TestErrorBeforeAnyData(t *testing.T) {
	now := t0
	m := newTestModel(t, &fakeSource{}, &now)
	update(t, m, fetchErrMsg{err: errors.New("neither plane answers"), at: t0})
	v := m.View()
	mustContain(t, v, "refresh failed just now: neither plane answers", "loading…")
	mustNotContain(t, v, "showing data from")
}

func TestNotLoggedIn(t *testing.T) {
	now := t0
	m := newTestModel(t, &fakeSource{}, &now)
	snap := testSnapshot()
	snap.Regions, snap.Projects, snap.NotLoggedIn = nil, nil, true
	update(t, m, snapshotMsg{snap: snap, at: t0})
	mustContain(t, m.View(), "● ready", "regions and projects: not logged in: run sov login")
	for _, k := range []string{"2", "3"} {
		update(t, m, keyRunes(k))
		v := m.View()
		mustContain(t, v, "not logged in: run sov login")
		mustNotContain(t, v, "NAME")
	}
}

func TestListErrors(t *testing.T) {
	now := t0
	m := newTestModel(t, &fakeSource{}, &now)
	snap := testSnapshot()
	snap.Regions, snap.RegionsError = nil, "list regions: sovereign: permission_denied: nope"
	snap.Projects, snap.ProjectsError = snap.Projects[:1], "list projects of side: sovereign: internal: oops"
	update(t, m, snapshotMsg{snap: snap, at: t0})
	update(t, m, keyRunes("2"))
	mustContain(t, m.View(), "list regions: sovereign: permission_denied: nope")
	update(t, m, keyRunes("3"))
	v := m.View()
	// A partial list shows with its error above it.
	mustContain(t, v, "list projects of side: sovereign: internal: oops", "shop")
	mustNotContain(t, v, "notes")
}

func TestEmptyLists(t *testing.T) {
	now := t0
	m := newTestModel(t, &fakeSource{}, &now)
	snap := testSnapshot()
	snap.Regions, snap.Projects = nil, nil
	update(t, m, snapshotMsg{snap: snap, at: t0})
	update(t, m, keyRunes("2"))
	mustContain(t, m.View(), "no regions")
	update(t, m, keyRunes("3"))
	mustContain(t, m.View(), "no projects")
}

func TestUnreachablePlane(t *testing.T) {
	now := t0
	m := newTestModel(t, &fakeSource{}, &now)
	snap := testSnapshot()
	snap.DataPlane = Plane{URL: "http://127.0.0.1:7071", Error: "sovereign: unavailable: dial tcp: connection refused"}
	update(t, m, snapshotMsg{snap: snap, at: t0})
	v := m.View()
	mustContain(t, v, "● unreachable", "dial tcp:", "refused")
	mustContain(t, lineWith(t, v, "error"), "sovereign: unavailable")
}

func TestQuitKeys(t *testing.T) {
	for _, k := range []tea.KeyMsg{keyRunes("q"), {Type: tea.KeyCtrlC}} {
		now := t0
		m := newTestModel(t, &fakeSource{}, &now)
		cmd := update(t, m, k)
		if cmd == nil {
			t.Fatalf("%s: no command", k)
		}
		if _, ok := cmd().(tea.QuitMsg); !ok {
			t.Fatalf("%s: command is not tea.Quit", k)
		}
	}
}

func TestHelpToggle(t *testing.T) {
	now := t0
	m := newTestModel(t, &fakeSource{}, &now)
	update(t, m, snapshotMsg{snap: testSnapshot(), at: t0})
	update(t, m, keyRunes("3"))
	short := m.View()
	mustContain(t, short, "next page", "refresh now", "quit")
	mustNotContain(t, short, "previous page")
	update(t, m, keyRunes("?"))
	full := m.View()
	mustContain(t, full, "previous page", "overview", "regions", "projects", "page down")
	for _, v := range []string{short, full} {
		if h := lipgloss.Height(v); h != 30 {
			t.Errorf("view is %d lines high, want the window's 30:\n%s", h, v)
		}
	}
	update(t, m, keyRunes("?"))
	mustNotContain(t, m.View(), "previous page")
}

func TestResizeFitsWindow(t *testing.T) {
	for _, size := range []tea.WindowSizeMsg{{Width: 160, Height: 40}, {Width: 100, Height: 24}, {Width: 72, Height: 20}, {Width: 50, Height: 12}} {
		now := t0
		m := newTestModel(t, &fakeSource{}, &now)
		update(t, m, snapshotMsg{snap: testSnapshot(), at: t0})
		update(t, m, size)
		for _, k := range []string{"1", "2", "3"} {
			update(t, m, keyRunes(k))
			v := m.View()
			if h := lipgloss.Height(v); h != size.Height {
				t.Errorf("%dx%d page %s: %d lines high:\n%s", size.Width, size.Height, k, h, v)
			}
			for _, l := range strings.Split(v, "\n") {
				if w := lipgloss.Width(l); w > size.Width {
					t.Errorf("%dx%d page %s: line %d wide: %q", size.Width, size.Height, k, w, l)
				}
			}
		}
		// The project names stay legible however narrow the window.
		update(t, m, keyRunes("3"))
		mustContain(t, m.View(), "shop", "blog", "notes")
	}
}

func TestProjectsTableColumnsFollowWidth(t *testing.T) {
	now := t0
	m := newTestModel(t, &fakeSource{}, &now)
	update(t, m, snapshotMsg{snap: testSnapshot(), at: t0})
	projects := m.pages[PageProjects].(*listPage)
	total := func() int {
		n := 0
		for _, c := range projects.table.model.Columns() {
			n += c.Width + cellPadding
		}
		return n
	}
	if got := total(); got != 120 {
		t.Errorf("at 120 wide the columns take %d", got)
	}
	update(t, m, tea.WindowSizeMsg{Width: 150, Height: 30})
	if got := total(); got != 150 {
		t.Errorf("at 150 wide the columns take %d", got)
	}
	last := projects.table.model.Columns()[6]
	if last.Title != "LAST ERROR" || last.Width < len("region eu-1 unreachable: connection refused") {
		t.Errorf("the grow column did not grow: %+v", last)
	}
}

func TestTableCursorKeys(t *testing.T) {
	now := t0
	m := newTestModel(t, &fakeSource{}, &now)
	update(t, m, snapshotMsg{snap: testSnapshot(), at: t0})
	update(t, m, keyRunes("3"))
	table := m.pages[PageProjects].(*listPage).table
	if c := table.model.Cursor(); c != 0 {
		t.Fatalf("cursor starts at %d", c)
	}
	update(t, m, tea.KeyMsg{Type: tea.KeyDown})
	update(t, m, keyRunes("j"))
	if c := table.model.Cursor(); c != 2 {
		t.Fatalf("after down, j: cursor %d", c)
	}
	// A refresh keeps the cursor; a shorter list pulls it in.
	update(t, m, snapshotMsg{snap: testSnapshot(), at: t0})
	if c := table.model.Cursor(); c != 2 {
		t.Fatalf("after a refresh: cursor %d", c)
	}
	snap := testSnapshot()
	snap.Projects = snap.Projects[:1]
	update(t, m, snapshotMsg{snap: snap, at: t0})
	if c := table.model.Cursor(); c != 0 {
		t.Fatalf("after the list shrank: cursor %d", c)
	}
	update(t, m, tea.KeyMsg{Type: tea.KeyUp})
	if c := table.model.Cursor(); c != 0 {
		t.Fatalf("up from the top: cursor %d", c)
	}
}

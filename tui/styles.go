package tui

import (
	"github.com/charmbracelet/bubbles/table"
	"github.com/charmbracelet/lipgloss"
)

// Styles are every Lip Gloss style the monitor uses, kept in one place so
// that its look changes here and nowhere else. Colours are ANSI 16-colour
// indexes, which every terminal theme maps to something legible.
type Styles struct {
	// TabActive and TabInactive draw the page tabs of the top bar.
	TabActive, TabInactive lipgloss.Style
	// Updated draws the data's age at the right of the top bar.
	Updated lipgloss.Style
	// Error draws the status line when a refresh failed.
	Error lipgloss.Style
	// Info draws the status line otherwise ("refreshing…").
	Info lipgloss.Style
	// Title draws a section's heading (a plane's name).
	Title lipgloss.Style
	// Label draws a field's name in the Overview ("version").
	Label lipgloss.Style
	// Muted draws what matters less: empty-state messages, "never".
	Muted lipgloss.Style
	// Good, Warn and Bad draw a state by its meaning: ready, healthy,
	// active; provisioning, paused; unreachable, failing, deleting.
	Good, Warn, Bad lipgloss.Style
	// Panel frames one plane in the Overview.
	Panel lipgloss.Style
	// Table styles the bubbles tables of the Regions and Projects pages.
	Table table.Styles
}

// DefaultStyles returns the monitor's look.
func DefaultStyles() Styles {
	green, yellow, red := lipgloss.Color("2"), lipgloss.Color("3"), lipgloss.Color("1")
	accent, grey := lipgloss.Color("6"), lipgloss.Color("8")
	tbl := table.DefaultStyles()
	tbl.Header = tbl.Header.Bold(true).
		BorderStyle(lipgloss.NormalBorder()).BorderBottom(true).BorderForeground(grey)
	tbl.Selected = lipgloss.NewStyle().Bold(true).Foreground(accent)
	return Styles{
		TabActive:   lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("0")).Background(accent).Padding(0, 1),
		TabInactive: lipgloss.NewStyle().Foreground(grey).Padding(0, 1),
		Updated:     lipgloss.NewStyle().Foreground(grey),
		Error:       lipgloss.NewStyle().Foreground(red),
		Info:        lipgloss.NewStyle().Foreground(grey),
		Title:       lipgloss.NewStyle().Bold(true).Foreground(accent),
		Label:       lipgloss.NewStyle().Foreground(grey),
		Muted:       lipgloss.NewStyle().Foreground(grey),
		Good:        lipgloss.NewStyle().Foreground(green),
		Warn:        lipgloss.NewStyle().Foreground(yellow),
		Bad:         lipgloss.NewStyle().Foreground(red),
		Panel:       lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(grey).Padding(0, 1),
		Table:       tbl,
	}
}

// State returns the style of a project state.
func (s Styles) State(state string) lipgloss.Style {
	switch state {
	case StateActive:
		return s.Good
	case StateProvisioning, StatePaused:
		return s.Warn
	case StateDeleting, StateDeleted:
		return s.Bad
	default:
		return s.Muted
	}
}

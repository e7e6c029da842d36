package tui

import (
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/table"
)

// keyMap is every key the monitor answers to; it is also what the help
// line shows.
type keyMap struct {
	Next, Prev           key.Binding
	Page1, Page2, Page3  key.Binding
	Up, Down, PgUp, PgDn key.Binding
	Refresh, Help, Quit  key.Binding
}

func defaultKeyMap() keyMap {
	tk := table.DefaultKeyMap()
	return keyMap{
		Next:    key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "next page")),
		Prev:    key.NewBinding(key.WithKeys("shift+tab"), key.WithHelp("shift+tab", "previous page")),
		Page1:   key.NewBinding(key.WithKeys("1"), key.WithHelp("1", "overview")),
		Page2:   key.NewBinding(key.WithKeys("2"), key.WithHelp("2", "regions")),
		Page3:   key.NewBinding(key.WithKeys("3"), key.WithHelp("3", "projects")),
		Up:      tk.LineUp,
		Down:    tk.LineDown,
		PgUp:    tk.PageUp,
		PgDn:    tk.PageDown,
		Refresh: key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "refresh now")),
		Help:    key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "toggle help")),
		Quit:    key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
	}
}

// ShortHelp is the one-line help (help.KeyMap).
func (k keyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.Next, k.Refresh, k.Help, k.Quit}
}

// FullHelp is the help shown after ? (help.KeyMap).
func (k keyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Next, k.Prev, k.Page1, k.Page2, k.Page3},
		{k.Up, k.Down, k.PgUp, k.PgDn},
		{k.Refresh, k.Help, k.Quit},
	}
}

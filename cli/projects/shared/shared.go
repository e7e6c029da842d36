// Package shared prints projects for the `sov projects` commands.
package shared

import (
	"fmt"
	"time"

	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/tableprinter"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Header names the columns of Row.
var Header = []string{"ref", "name", "region", "state", "data plane url", "created"}

// Row adds p to a table.
func Row(tp *tableprinter.Printer, p *sovereign.Project) {
	tp.Field(p.Ref)
	tp.Field(p.Name)
	tp.Field(p.Region)
	tp.Field(string(p.State))
	tp.Field(p.DataPlaneURL)
	tp.Time(p.CreatedAt)
	tp.EndRow()
}

// Print shows one project: as JSON, as labelled lines on a terminal, or as
// one tab-separated row (the columns of Header) in a pipe.
func Print(io *factory.IOStreams, now time.Time, asJSON bool, p *sovereign.Project) error {
	if asJSON {
		return factory.PrintJSON(io.Out, p)
	}
	if !io.OutTTY {
		tp := tableprinter.New(io.Out, false, now)
		Row(tp, p)
		return tp.Render()
	}
	tp := tableprinter.New(io.Out, true, now)
	field := func(label, value string) {
		tp.Field(label)
		tp.Field(value)
		tp.EndRow()
	}
	field("Name", p.Name)
	field("Ref", p.Ref)
	field("ID", p.ID)
	field("Organization", p.OrganizationID)
	field("Region", p.Region)
	field("State", string(p.State))
	field("Data plane", p.DataPlaneURL)
	field("Created", tableprinter.RelativeTime(now, p.CreatedAt))
	if !p.PurgeAt.IsZero() {
		field("Data dropped", fmt.Sprintf("%s (%s)", tableprinter.RelativeTime(now, p.PurgeAt), p.PurgeAt.Local().Format(time.DateTime)))
	}
	if p.LastError != "" {
		field("Last error", p.LastError)
	}
	return tp.Render()
}

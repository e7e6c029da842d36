// Package regions is `sov regions`: where projects can live.
package regions

import (
	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/regions/list"
)

// NewCmdRegions builds `sov regions` and its subcommands.
func NewCmdRegions(f *factory.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "regions",
		Aliases: []string{"region"},
		Short:   "List the platform's regions",
	}
	cmd.AddCommand(list.NewCmdList(f, nil))
	return cmd
}

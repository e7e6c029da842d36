// Package collections is `sov db collections`: a project's collections and
// their schemas.
package collections

import (
	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/db/collections/alter"
	"github.com/sovereign-backend/sovereign/cli/db/collections/create"
	"github.com/sovereign-backend/sovereign/cli/db/collections/describe"
	"github.com/sovereign-backend/sovereign/cli/db/collections/drop"
	"github.com/sovereign-backend/sovereign/cli/db/collections/list"
	"github.com/sovereign-backend/sovereign/cli/factory"
)

// NewCmdCollections builds `sov db collections` and its subcommands.
func NewCmdCollections(f *factory.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "collections",
		Aliases: []string{"collection", "coll"},
		Short:   "Create, list, describe, alter and drop collections",
	}
	cmd.AddCommand(create.NewCmdCreate(f, nil), list.NewCmdList(f, nil), describe.NewCmdDescribe(f, nil),
		alter.NewCmdAlter(f, nil), drop.NewCmdDrop(f, nil))
	return cmd
}

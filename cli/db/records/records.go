// Package records is `sov db records`: reading and writing a collection's
// records one by one.
package records

import (
	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/db/records/delete"
	"github.com/sovereign-backend/sovereign/cli/db/records/get"
	"github.com/sovereign-backend/sovereign/cli/db/records/insert"
	"github.com/sovereign-backend/sovereign/cli/db/records/list"
	"github.com/sovereign-backend/sovereign/cli/db/records/update"
	"github.com/sovereign-backend/sovereign/cli/factory"
)

// NewCmdRecords builds `sov db records` and its subcommands.
func NewCmdRecords(f *factory.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "records",
		Aliases: []string{"record", "rec"},
		Short:   "Insert, get, update, delete and list records",
	}
	cmd.AddCommand(insert.NewCmdInsert(f, nil), get.NewCmdGet(f, nil), update.NewCmdUpdate(f, nil),
		delete.NewCmdDelete(f, nil), list.NewCmdList(f, nil))
	return cmd
}

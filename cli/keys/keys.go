// Package keys is `sov keys`: a project's API keys.
package keys

import (
	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/keys/create"
	"github.com/sovereign-backend/sovereign/cli/keys/list"
	"github.com/sovereign-backend/sovereign/cli/keys/revoke"
)

// NewCmdKeys builds `sov keys` and its subcommands.
func NewCmdKeys(f *factory.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "keys",
		Aliases: []string{"key"},
		Short:   "Create, list and revoke a project's API keys",
	}
	cmd.AddCommand(create.NewCmdCreate(f, nil), list.NewCmdList(f, nil), revoke.NewCmdRevoke(f, nil))
	return cmd
}

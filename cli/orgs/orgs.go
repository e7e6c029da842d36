// Package orgs is `sov orgs`: organizations and their members.
package orgs

import (
	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/orgs/create"
	"github.com/sovereign-backend/sovereign/cli/orgs/list"
	"github.com/sovereign-backend/sovereign/cli/orgs/members"
)

// NewCmdOrgs builds `sov orgs` and its subcommands.
func NewCmdOrgs(f *factory.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "orgs",
		Aliases: []string{"org", "organizations"},
		Short:   "Create and list organizations; manage their members",
	}
	cmd.AddCommand(create.NewCmdCreate(f, nil), list.NewCmdList(f, nil), members.NewCmdMembers(f, nil))
	return cmd
}

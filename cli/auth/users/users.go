// Package users is `sov auth users`: a project's end users.
package users

import (
	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/auth/users/create"
	"github.com/sovereign-backend/sovereign/cli/auth/users/delete"
	"github.com/sovereign-backend/sovereign/cli/auth/users/disable"
	"github.com/sovereign-backend/sovereign/cli/auth/users/get"
	"github.com/sovereign-backend/sovereign/cli/auth/users/list"
	"github.com/sovereign-backend/sovereign/cli/auth/users/setrole"
	"github.com/sovereign-backend/sovereign/cli/factory"
)

// NewCmdUsers builds `sov auth users` and its subcommands.
func NewCmdUsers(f *factory.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "users",
		Aliases: []string{"user"},
		Short:   "List, show, create, disable, enable, delete users and set their roles",
	}
	cmd.AddCommand(list.NewCmdList(f, nil), get.NewCmdGet(f, nil), create.NewCmdCreate(f, nil), delete.NewCmdDelete(f, nil),
		disable.NewCmdDisable(f, nil), disable.NewCmdEnable(f, nil), setrole.NewCmdSetRole(f, nil))
	return cmd
}

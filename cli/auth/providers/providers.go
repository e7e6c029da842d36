// Package providers is `sov auth providers`: the OAuth / OpenID Connect
// providers a project's users sign in with.
package providers

import (
	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/auth/providers/delete"
	"github.com/sovereign-backend/sovereign/cli/auth/providers/list"
	"github.com/sovereign-backend/sovereign/cli/auth/providers/set"
	"github.com/sovereign-backend/sovereign/cli/factory"
)

// NewCmdProviders builds `sov auth providers` and its subcommands.
func NewCmdProviders(f *factory.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "providers",
		Aliases: []string{"provider"},
		Short:   "List, set and delete the OAuth / OpenID Connect providers users sign in with",
	}
	cmd.AddCommand(list.NewCmdList(f, nil), set.NewCmdSet(f, nil), delete.NewCmdDelete(f, nil))
	return cmd
}

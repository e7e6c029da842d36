// Package keys is `sov auth keys`: the keys a project's access tokens are
// signed with (not its API keys, which are `sov keys`).
package keys

import (
	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/auth/keys/list"
	"github.com/sovereign-backend/sovereign/cli/auth/keys/rotate"
	"github.com/sovereign-backend/sovereign/cli/factory"
)

// NewCmdKeys builds `sov auth keys` and its subcommands.
func NewCmdKeys(f *factory.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "List and rotate the keys users' access tokens are signed with",
		Long: `The keys that sign your users' access tokens (JWTs), published at
/.well-known/jwks.json for anyone verifying them. These are not the
project's API keys: those are ` + "`sov keys`" + `.`,
	}
	cmd.AddCommand(list.NewCmdList(f, nil), rotate.NewCmdRotate(f, nil))
	return cmd
}

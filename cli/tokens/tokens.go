// Package tokens is `sov tokens`: personal access tokens for CI and scripts.
package tokens

import (
	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/tokens/create"
	"github.com/sovereign-backend/sovereign/cli/tokens/list"
	"github.com/sovereign-backend/sovereign/cli/tokens/revoke"
)

// NewCmdTokens builds `sov tokens` and its subcommands.
func NewCmdTokens(f *factory.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "tokens",
		Aliases: []string{"token"},
		Short:   "Create, list and revoke personal access tokens",
		Long: `Personal access tokens (sov_pat_…) sign in as you without a password, for CI
and scripts: ` + "`sov login --token TOKEN`" + `, or the SDK's WithToken.`,
	}
	cmd.AddCommand(create.NewCmdCreate(f, nil), list.NewCmdList(f, nil), revoke.NewCmdRevoke(f, nil))
	return cmd
}

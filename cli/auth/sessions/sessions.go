// Package sessions is `sov auth sessions`: end users' sessions.
package sessions

import (
	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/auth/sessions/revoke"
	"github.com/sovereign-backend/sovereign/cli/factory"
)

// NewCmdSessions builds `sov auth sessions` and its subcommands.
func NewCmdSessions(f *factory.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "sessions",
		Aliases: []string{"session"},
		Short:   "End a user's sessions",
	}
	cmd.AddCommand(revoke.NewCmdRevoke(f, nil))
	return cmd
}

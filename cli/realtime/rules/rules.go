// Package rules is `sov realtime rules`: who may join, and who may send on,
// the broadcast channels of each name prefix.
package rules

import (
	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/realtime/rules/ls"
	"github.com/sovereign-backend/sovereign/cli/realtime/rules/rm"
	"github.com/sovereign-backend/sovereign/cli/realtime/rules/set"
)

// NewCmdRules builds `sov realtime rules` and its subcommands.
func NewCmdRules(f *factory.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "rules",
		Aliases: []string{"rule"},
		Short:   "List, set and delete the rules of broadcast channels",
		Long: `A channel rule decides who may use the broadcast channels whose names start
with its prefix (such as "room:"): a join rule for joining (and so receiving
broadcasts and presence), a send rule for broadcasting and sharing a
presence state. Rules are expressions in the same language as query
filters, with auth (uid, role, aal, claims), channel.name and channel.rest
(the name after the prefix) in scope. An empty rule lets only the secret key
through; "true" lets anyone with the project's key.

The prefixes public:, authenticated: and user: have fixed rules and take no
others. A channel takes the rule of the longest prefix its name starts
with; one no rule covers is the secret key's alone. A project has at most
100 rules. Rules are read when a member joins: a change applies to later
joins.`,
		Example: `  sov realtime rules set room: --join 'auth.uid != ""' --send 'channel.rest == auth.uid'
  sov realtime rules set team: --join 'auth.claims.team == channel.rest' --send 'auth.claims.team == channel.rest'
  sov realtime rules ls
  sov realtime rules rm team:`,
	}
	cmd.AddCommand(ls.NewCmdLs(f, nil), set.NewCmdSet(f, nil), rm.NewCmdRm(f, nil))
	return cmd
}

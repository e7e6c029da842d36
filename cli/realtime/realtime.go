// Package realtime is `sov realtime`: a project's realtime settings from the
// command line, for now the rules of its broadcast channels. Its commands
// reach the project's data plane with the project's secret API key (--key
// or SOV_KEY). Watching a collection's changes is `sov db watch`.
package realtime

import (
	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/db/shared"
	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/realtime/rules"
)

// NewCmdRealtime builds `sov realtime` and its subcommands.
func NewCmdRealtime(f *factory.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "realtime",
		Short: "A project's realtime channels: who may join and send",
		Long: `Work with a project's realtime broadcast channels: the rules that decide who
may join the channels of a name prefix, and who may send on them.
` + "`sov db watch`" + ` follows a collection's changes.

The commands act for the project whose secret API key is given with --key
or in SOV_KEY, on the data plane of --data-url or the profile.`,
		Example: `  export SOV_KEY=sov_sk_…
  sov realtime rules set room: --join 'auth.uid != ""' --send 'channel.rest == auth.uid'
  sov realtime rules ls
  sov realtime rules rm room:`,
	}
	shared.AddKeyFlag(cmd)
	cmd.AddCommand(rules.NewCmdRules(f))
	return cmd
}

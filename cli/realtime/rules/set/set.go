// Package set is `sov realtime rules set`.
package set

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/db/shared"
	"github.com/sovereign-backend/sovereign/cli/factory"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov realtime rules set`.
type Options struct {
	IO *factory.IOStreams
	// Client returns a client of the project's data plane.
	Client func() (*sovereign.Client, error)
	// Rule is the rule to set; its Join or Send is empty when the flag was
	// left out.
	Rule sovereign.ChannelRule
	JSON bool
}

// Result is what --json prints: the rule as stored, and whether the prefix
// had no rule before.
type Result struct {
	Rule    *sovereign.ChannelRule `json:"rule"`
	Created bool                   `json:"created"`
}

// NewCmdSet builds the command; runF replaces the run function in tests.
func NewCmdSet(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "set PREFIX [--join EXPR] [--send EXPR]",
		Short: "Create or replace the rule of a channel prefix",
		Long: `Create the rule of PREFIX, or replace it: both rules at once, so a flag left
out makes that rule empty, which only the secret key passes. PREFIX is 2 to
100 characters of A-Z a-z 0-9 : _ . - ending in ":"; public:, authenticated:
and user: (and prefixes starting with them) have fixed rules and take no
others.

--join decides who may join a channel of the prefix (and so receive its
broadcasts and presence), --send who may broadcast and share a presence
state on it. Rules read auth.uid, auth.role, auth.aal, auth.claims.<name>,
channel.name and channel.rest (the name after the prefix); "true" lets
anyone with the project's key. A rule that does not compile changes
nothing, and the error names the rule and the position.

Members already in a channel keep the rules they joined with.`,
		Example: `  sov realtime rules set room: --join 'auth.uid != ""' --send 'channel.rest == auth.uid'
  sov realtime rules set news: --join true    # anyone reads; only the secret key sends`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Client = shared.Client(f, cmd)
			opts.Rule.Prefix = args[0]
			if !cmd.Flags().Changed("join") && !cmd.Flags().Changed("send") {
				return factory.UsageError("give --join, --send or both (a rule left out lets only the secret key through)")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Rule.Join, "join", "", "who may join, e.g. 'auth.uid != \"\"' (left out: the secret key only)")
	cmd.Flags().StringVar(&opts.Rule.Send, "send", "", "who may send, e.g. 'channel.rest == auth.uid' (left out: the secret key only)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the rule as stored, as JSON")
	return cmd
}

// Run sets the rule and says whether it was created or replaced: the
// prefix and "created" or "replaced" in a pipe, the rule with --json.
func Run(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	rule, created, err := c.ChannelRules().Set(ctx, opts.Rule)
	if err != nil {
		return err
	}
	verb := "replaced"
	if created {
		verb = "created"
	}
	switch {
	case opts.JSON:
		return factory.PrintJSON(opts.IO.Out, Result{Rule: rule, Created: created})
	case opts.IO.OutTTY:
		_, err = fmt.Fprintf(opts.IO.Out, "✓ %s the rule of %s\n", verb, rule.Prefix)
	default:
		_, err = fmt.Fprintf(opts.IO.Out, "%s\t%s\n", rule.Prefix, verb)
	}
	return err
}

// Package ls is `sov realtime rules ls`.
package ls

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/db/shared"
	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/tableprinter"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov realtime rules ls`.
type Options struct {
	IO *factory.IOStreams
	// Client returns a client of the project's data plane.
	Client func() (*sovereign.Client, error)
	Now    func() time.Time
	JSON   bool
}

// NewCmdLs builds the command; runF replaces the run function in tests.
func NewCmdLs(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Now: f.Now}
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the project's channel rules, by prefix",
		Long: `List the project's channel rules, by prefix: the join rule, the send rule
(on a terminal, "-" for an empty rule, which only the secret key passes)
and when each was last set.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Client = shared.Client(f, cmd)
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

// Run lists the rules: a table on a terminal (prefix, join, send,
// updated), tab-separated lines in a pipe, a JSON list with --json.
func Run(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	rules, err := c.ChannelRules().List(ctx)
	if err != nil {
		return err
	}
	if opts.JSON {
		return factory.PrintJSON(opts.IO.Out, factory.NonNil(rules))
	}
	tty := opts.IO.OutTTY
	tp := tableprinter.New(opts.IO.Out, tty, opts.Now(), "prefix", "join", "send", "updated")
	for _, r := range rules {
		tp.Field(r.Prefix)
		tp.Field(rule(tty, r.Join))
		tp.Field(rule(tty, r.Send))
		tp.Time(r.UpdatedAt)
		tp.EndRow()
	}
	return tp.Render()
}

// rule is a rule's cell: on a terminal, "-" for the empty rule.
func rule(tty bool, expr string) string {
	if tty && expr == "" {
		return "-"
	}
	return expr
}

// Package list is `sov tokens list`.
package list

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/tableprinter"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov tokens list`.
type Options struct {
	IO *factory.IOStreams
	// Client returns a client signed in as the profile.
	Client func() (*sovereign.ManagementClient, error)
	Now    func() time.Time
	JSON   bool
}

// NewCmdList builds the command; runF replaces the run function in tests.
func NewCmdList(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Client: f.Client, Now: f.Now}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List your personal access tokens (never the tokens themselves)",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

// Run lists the tokens: id, name, prefix, created, last used, expires,
// revoked.
func Run(ctx context.Context, opts *Options) error {
	mc, err := opts.Client()
	if err != nil {
		return err
	}
	toks, err := sovereign.Collect(mc.Tokens(ctx))
	if err != nil {
		return err
	}
	if opts.JSON {
		return factory.PrintJSON(opts.IO.Out, factory.NonNil(toks))
	}
	tp := tableprinter.New(opts.IO.Out, opts.IO.OutTTY, opts.Now(), "id", "name", "prefix", "created", "last used", "expires", "revoked")
	for _, t := range toks {
		tp.Field(t.ID)
		tp.Field(t.Name)
		tp.Field(t.Prefix)
		tp.Time(t.CreatedAt)
		tp.Time(t.LastUsedAt)
		tp.Time(t.ExpiresAt)
		tp.Time(t.RevokedAt)
		tp.EndRow()
	}
	return tp.Render()
}

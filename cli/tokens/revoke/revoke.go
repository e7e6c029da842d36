// Package revoke is `sov tokens revoke`.
package revoke

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/prompt"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov tokens revoke`.
type Options struct {
	IO       *factory.IOStreams
	Prompter prompt.Prompter
	// Client returns a client signed in as the profile.
	Client func() (*sovereign.ManagementClient, error)
	// ID is the token's id (from `sov tokens list`).
	ID   string
	Yes  bool
	JSON bool
}

// Result is what `sov tokens revoke --json` prints.
type Result struct {
	ID      string `json:"id"`
	Revoked bool   `json:"revoked"`
}

// NewCmdRevoke builds the command; runF replaces the run function in tests.
func NewCmdRevoke(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Client: f.Client}
	cmd := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a personal access token",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = args[0]
			opts.Prompter = prompt.New(f.IO)
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "do not ask for confirmation")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

// Run confirms and revokes the token.
func Run(ctx context.Context, opts *Options) error {
	mc, err := opts.Client()
	if err != nil {
		return err
	}
	if err := prompt.ConfirmOrYes(opts.IO, opts.Prompter, opts.Yes,
		fmt.Sprintf("Revoke token %s? Whatever signs in with it stops working", opts.ID)); err != nil {
		return err
	}
	if err := mc.RevokeToken(ctx, opts.ID); err != nil {
		return err
	}
	switch {
	case opts.JSON:
		return factory.PrintJSON(opts.IO.Out, Result{ID: opts.ID, Revoked: true})
	case opts.IO.OutTTY:
		_, err = fmt.Fprintf(opts.IO.Out, "✓ Revoked token %s\n", opts.ID)
	}
	return err
}

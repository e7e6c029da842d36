// Package revoke is `sov keys revoke`.
package revoke

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/prompt"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov keys revoke`.
type Options struct {
	IO       *factory.IOStreams
	Prompter prompt.Prompter
	// Client returns a client signed in as the profile.
	Client func() (*sovereign.ManagementClient, error)
	// ID is the key's id (from `sov keys list`).
	ID   string
	Yes  bool
	JSON bool
}

// NewCmdRevoke builds the command; runF replaces the run function in tests.
func NewCmdRevoke(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Client: f.Client}
	cmd := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API key; the data plane refuses it within a second",
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

// Run confirms and revokes the key.
func Run(ctx context.Context, opts *Options) error {
	mc, err := opts.Client()
	if err != nil {
		return err
	}
	if err := prompt.ConfirmOrYes(opts.IO, opts.Prompter, opts.Yes,
		fmt.Sprintf("Revoke key %s? Apps using it stop working", opts.ID)); err != nil {
		return err
	}
	k, err := mc.RevokeAPIKey(ctx, opts.ID)
	if err != nil {
		return err
	}
	switch {
	case opts.JSON:
		return factory.PrintJSON(opts.IO.Out, k)
	case opts.IO.OutTTY:
		_, err = fmt.Fprintf(opts.IO.Out, "✓ Revoked %s key %q (%s…)\n", k.Kind, k.Name, k.Prefix)
	}
	return err
}

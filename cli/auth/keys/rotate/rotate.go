// Package rotate is `sov auth keys rotate`.
package rotate

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/db/shared"
	"github.com/sovereign-backend/sovereign/cli/factory"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov auth keys rotate`.
type Options struct {
	IO *factory.IOStreams
	// Client returns a client of the project's data plane.
	Client func() (*sovereign.Client, error)
	JSON   bool
}

// NewCmdRotate builds the command; runF replaces the run function in tests.
func NewCmdRotate(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "rotate",
		Short: "Make a new signing key current, signing nobody out",
		Long: `Make a new key current for signing access tokens. Tokens signed with the
previous key stay valid until they expire (its public key stays published),
so nobody is signed out. Rotate on a schedule, or at once if a key may have
leaked.

In a pipe, only the new key's id (kid) is printed.`,
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

// Run rotates the key.
func Run(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	k, err := c.AuthAdmin().RotateSigningKey(ctx)
	if err != nil {
		return err
	}
	switch {
	case opts.JSON:
		return factory.PrintJSON(opts.IO.Out, k)
	case opts.IO.OutTTY:
		_, err = fmt.Fprintf(opts.IO.Out, "✓ Signing key %s (%s) is now current; tokens signed with the previous key stay valid until they expire\n", k.KID, k.Alg)
	default:
		_, err = fmt.Fprintln(opts.IO.Out, k.KID)
	}
	return err
}

// Package create is `sov tokens create`.
package create

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/factory"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov tokens create`.
type Options struct {
	IO *factory.IOStreams
	// Client returns a client signed in as the profile.
	Client func() (*sovereign.ManagementClient, error)
	Name   string
	TTL    time.Duration
	JSON   bool
}

// Result is what `sov tokens create --json` prints: the token's description
// and the token itself, shown once.
type Result struct {
	*sovereign.PersonalAccessToken
	Token string `json:"token"`
}

// NewCmdCreate builds the command; runF replaces the run function in tests.
func NewCmdCreate(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Client: f.Client}
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a personal access token",
		Long: `Create a personal access token. It is shown only once; in a pipe, only the
token is printed:

  SOV_TOKEN=$(sov tokens create ci --ttl 720h)`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if opts.TTL < 0 {
				return factory.UsageError("--ttl must not be negative")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().DurationVar(&opts.TTL, "ttl", 0, "lifetime, e.g. 720h (default: does not expire)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

// Run creates the token.
func Run(ctx context.Context, opts *Options) error {
	mc, err := opts.Client()
	if err != nil {
		return err
	}
	tok, secret, err := mc.CreateToken(ctx, opts.Name, opts.TTL)
	if err != nil {
		return err
	}
	switch {
	case opts.JSON:
		return factory.PrintJSON(opts.IO.Out, Result{PersonalAccessToken: tok, Token: secret})
	case opts.IO.OutTTY:
		_, err = fmt.Fprintf(opts.IO.Out, "✓ Created token %q (id %s)\n  %s\nThe token is shown only this once: store it now.\n", tok.Name, tok.ID, secret)
	default:
		_, err = fmt.Fprintln(opts.IO.Out, secret)
	}
	return err
}

// Package create is `sov keys create`.
package create

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/projectarg"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov keys create`.
type Options struct {
	IO *factory.IOStreams
	// Client returns a client signed in as the profile.
	Client func() (*sovereign.ManagementClient, error)
	// Project is the project's ref, id or name.
	Project string
	Name    string
	Kind    string
	TTL     time.Duration
	JSON    bool
}

// Result is what `sov keys create --json` prints: the key's description and
// the key itself, shown once.
type Result struct {
	*sovereign.APIKey
	Key string `json:"key"`
}

// NewCmdCreate builds the command; runF replaces the run function in tests.
func NewCmdCreate(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Client: f.Client}
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a publishable or secret API key for a project",
		Long: `Create an API key. A secret key (sov_sk_…) has full access to the project's
data: keep it on servers. A publishable key (sov_pk_…) is safe in browsers and
apps; the project's access rules decide what it may do.

The key is shown only once. In a pipe, only the key is printed:

  KEY=$(sov keys create --project abcdefghijkl --kind secret --name backend)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Project == "" {
				return factory.UsageError("--project is required")
			}
			if k := sovereign.KeyKind(opts.Kind); k != sovereign.KeySecret && k != sovereign.KeyPublishable {
				return factory.UsageError("--kind %q: use secret or publishable", opts.Kind)
			}
			if opts.TTL < 0 {
				return factory.UsageError("--ttl must not be negative")
			}
			if opts.Name == "" {
				opts.Name = opts.Kind
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Project, "project", "p", "", projectarg.Usage)
	cmd.Flags().StringVar(&opts.Kind, "kind", string(sovereign.KeySecret), "secret or publishable")
	cmd.Flags().StringVar(&opts.Name, "name", "", "a name to tell the key apart (default: its kind)")
	cmd.Flags().DurationVar(&opts.TTL, "ttl", 0, "lifetime, e.g. 720h (default: does not expire)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

// Run creates the key.
func Run(ctx context.Context, opts *Options) error {
	mc, err := opts.Client()
	if err != nil {
		return err
	}
	p, err := projectarg.Resolve(ctx, mc, opts.Project)
	if err != nil {
		return err
	}
	k, secret, err := mc.CreateAPIKey(ctx, sovereign.CreateAPIKeyParams{
		ProjectID: p.ID, Name: opts.Name, Kind: sovereign.KeyKind(opts.Kind), TTL: opts.TTL,
	})
	if err != nil {
		return err
	}
	switch {
	case opts.JSON:
		return factory.PrintJSON(opts.IO.Out, Result{APIKey: k, Key: secret})
	case opts.IO.OutTTY:
		_, err = fmt.Fprintf(opts.IO.Out, "✓ Created %s key %q for project %s (id %s)\n  %s\nThe key is shown only this once: store it now.\n",
			k.Kind, k.Name, p.Ref, k.ID, secret)
	default:
		_, err = fmt.Fprintln(opts.IO.Out, secret)
	}
	return err
}

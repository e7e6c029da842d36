// Package list is `sov keys list`.
package list

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/projectarg"
	"github.com/sovereign-backend/sovereign/cli/tableprinter"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov keys list`.
type Options struct {
	IO *factory.IOStreams
	// Client returns a client signed in as the profile.
	Client func() (*sovereign.ManagementClient, error)
	Now    func() time.Time
	// Project is the project's ref, id or name.
	Project string
	All     bool
	JSON    bool
}

// NewCmdList builds the command; runF replaces the run function in tests.
func NewCmdList(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Client: f.Client, Now: f.Now}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List a project's API keys (never the keys themselves)",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Project == "" {
				return factory.UsageError("--project is required")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Project, "project", "p", "", projectarg.Usage)
	cmd.Flags().BoolVarP(&opts.All, "all", "a", false, "include revoked keys")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

// Run lists the keys: id, name, kind, prefix, created, last used, expires,
// and revoked with --all.
func Run(ctx context.Context, opts *Options) error {
	mc, err := opts.Client()
	if err != nil {
		return err
	}
	p, err := projectarg.Resolve(ctx, mc, opts.Project)
	if err != nil {
		return err
	}
	keys, err := sovereign.Collect(mc.APIKeys(ctx, sovereign.ListAPIKeysParams{ProjectID: p.ID, IncludeRevoked: opts.All}))
	if err != nil {
		return err
	}
	if opts.JSON {
		return factory.PrintJSON(opts.IO.Out, factory.NonNil(keys))
	}
	header := []string{"id", "name", "kind", "prefix", "created", "last used", "expires"}
	if opts.All {
		header = append(header, "revoked")
	}
	tp := tableprinter.New(opts.IO.Out, opts.IO.OutTTY, opts.Now(), header...)
	for _, k := range keys {
		tp.Field(k.ID)
		tp.Field(k.Name)
		tp.Field(string(k.Kind))
		tp.Field(k.Prefix)
		tp.Time(k.CreatedAt)
		tp.Time(k.LastUsedAt)
		tp.Time(k.ExpiresAt)
		if opts.All {
			tp.Time(k.RevokedAt)
		}
		tp.EndRow()
	}
	return tp.Render()
}

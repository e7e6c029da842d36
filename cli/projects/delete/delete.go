// Package delete is `sov projects delete`.
package delete

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/projects/shared"
	"github.com/sovereign-backend/sovereign/cli/prompt"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov projects delete`.
type Options struct {
	IO       *factory.IOStreams
	Prompter prompt.Prompter
	// Client returns a client signed in as the profile.
	Client func() (*sovereign.ManagementClient, error)
	Now    func() time.Time
	// Project is the project's ref or id.
	Project string
	Yes     bool
	JSON    bool
}

// NewCmdDelete builds the command; runF replaces the run function in tests.
func NewCmdDelete(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Client: f.Client, Now: f.Now}
	cmd := &cobra.Command{
		Use:   "delete REF",
		Short: "Delete a project: it stops at once, its data is dropped after 7 days",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Project = args[0]
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

// Run confirms, deletes the project and prints it.
func Run(ctx context.Context, opts *Options) error {
	mc, err := opts.Client()
	if err != nil {
		return err
	}
	p, err := mc.GetProject(ctx, opts.Project)
	if err != nil {
		return err
	}
	if err := prompt.ConfirmOrYes(opts.IO, opts.Prompter, opts.Yes,
		fmt.Sprintf("Delete project %s (%s)? It stops serving at once", p.Name, p.Ref)); err != nil {
		return err
	}
	if p, err = mc.DeleteProject(ctx, p.ID); err != nil {
		return err
	}
	if opts.IO.OutTTY && !opts.JSON {
		msg := fmt.Sprintf("✓ Project %s (%s) is %s", p.Name, p.Ref, p.State)
		if !p.PurgeAt.IsZero() {
			msg += "; its data is kept until " + p.PurgeAt.Local().Format(time.DateTime)
		}
		_, err := fmt.Fprintln(opts.IO.Out, msg)
		return err
	}
	return shared.Print(opts.IO, opts.Now(), opts.JSON, p)
}

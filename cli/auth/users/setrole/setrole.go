// Package setrole is `sov auth users set-role`.
package setrole

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/auth/internal/authprint"
	"github.com/sovereign-backend/sovereign/cli/db/shared"
	"github.com/sovereign-backend/sovereign/cli/factory"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov auth users set-role`.
type Options struct {
	IO *factory.IOStreams
	// Client returns a client of the project's data plane.
	Client func() (*sovereign.Client, error)
	Now    func() time.Time
	ID     string
	// Role is the new role; "" resets it to "authenticated".
	Role string
	JSON bool
}

// NewCmdSetRole builds the command; runF replaces the run function in
// tests.
func NewCmdSetRole(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Now: f.Now}
	cmd := &cobra.Command{
		Use:   "set-role ID ROLE",
		Short: "Give a user a project-defined role",
		Long: `Give a user a role of your own naming, which access rules see as auth.role:

  sov db rules set posts --delete "auth.role == 'moderator'"

A role is lowercase letters, digits, _ and -, at most 63 characters, and not
anon or service; "" resets the user to "authenticated". The user's tokens
carry the new role from their next refresh (within 30 minutes).`,
		Example: `  sov auth users set-role 0190c4f2-… moderator
  sov auth users set-role 0190c4f2-… ""`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Client = shared.Client(f, cmd)
			opts.ID, opts.Role = args[0], args[1]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the user as JSON")
	return cmd
}

// Run sets the role. On a terminal it says what happened; in a pipe it
// prints nothing.
func Run(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	u, err := c.AuthAdmin().SetUserRole(ctx, opts.ID, opts.Role)
	if err != nil {
		return err
	}
	switch {
	case opts.JSON:
		return authprint.PrintUser(opts.IO, opts.Now(), u, true)
	case opts.IO.OutTTY:
		_, err = fmt.Fprintf(opts.IO.Out, "✓ User %s now has role %s\n", u.ID, u.Role)
	}
	return err
}

// Package disable is `sov auth users disable` and its undoing, `sov auth
// users enable`: one package, as the two differ in a single value.
package disable

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

// Options are the inputs of `sov auth users disable` and `enable`.
type Options struct {
	IO *factory.IOStreams
	// Client returns a client of the project's data plane.
	Client func() (*sovereign.Client, error)
	Now    func() time.Time
	ID     string
	// Disable is true for disable, false for enable.
	Disable bool
	JSON    bool
}

// NewCmdDisable builds `disable`; runF replaces the run function in tests.
func NewCmdDisable(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	return newCmd(f, runF, true, &cobra.Command{
		Use:   "disable ID",
		Short: "Stop a user from signing in, and end their sessions",
		Long: `Disable a user: they cannot sign in or refresh a session, and every session
they have ends at once (an access token already issued may still be accepted
until it expires, within 30 minutes). ` + "`sov auth users enable`" + ` undoes it.`,
	})
}

// NewCmdEnable builds `enable`; runF replaces the run function in tests.
func NewCmdEnable(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	return newCmd(f, runF, false, &cobra.Command{
		Use:   "enable ID",
		Short: "Let a disabled user sign in again",
	})
}

func newCmd(f *factory.Factory, runF func(context.Context, *Options) error, disable bool, cmd *cobra.Command) *cobra.Command {
	opts := &Options{IO: f.IO, Now: f.Now, Disable: disable}
	cmd.Args = cobra.ExactArgs(1)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		opts.Client = shared.Client(f, cmd)
		opts.ID = args[0]
		if runF != nil {
			return runF(cmd.Context(), opts)
		}
		return Run(cmd.Context(), opts)
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the user as JSON")
	return cmd
}

// Run disables or enables the user. On a terminal it says what happened;
// in a pipe it prints nothing.
func Run(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	var u *sovereign.User
	if opts.Disable {
		u, err = c.AuthAdmin().DisableUser(ctx, opts.ID)
	} else {
		u, err = c.AuthAdmin().EnableUser(ctx, opts.ID)
	}
	if err != nil {
		return err
	}
	switch {
	case opts.JSON:
		return authprint.PrintUser(opts.IO, opts.Now(), u, true)
	case opts.IO.OutTTY && opts.Disable:
		_, err = fmt.Fprintf(opts.IO.Out, "✓ Disabled user %s; their sessions have ended\n", name(u))
	case opts.IO.OutTTY:
		_, err = fmt.Fprintf(opts.IO.Out, "✓ Enabled user %s\n", name(u))
	}
	return err
}

// name is how a user is called in messages: their email and id, or the id
// alone.
func name(u *sovereign.User) string {
	if u.Email == "" {
		return u.ID
	}
	return fmt.Sprintf("%s (%s)", u.Email, u.ID)
}

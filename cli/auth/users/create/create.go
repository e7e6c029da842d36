// Package create is `sov auth users create`.
package create

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/db/shared"
	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/login"
	"github.com/sovereign-backend/sovereign/cli/prompt"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov auth users create`.
type Options struct {
	IO       *factory.IOStreams
	Prompter prompt.Prompter
	// Client returns a client of the project's data plane.
	Client        func() (*sovereign.Client, error)
	Email         string
	PasswordStdin bool
	Verified      bool
	Role          string
	JSON          bool
}

// NewCmdCreate builds the command; runF replaces the run function in tests.
func NewCmdCreate(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a user who signs in with email and password",
		Long: `Create a user of the app, who can then sign in with the email and password.
The password is asked for on a terminal, or read from stdin with
--password-stdin; it is never a flag, so it stays out of shell history.
--verified marks the email verified without sending a mail; --role gives a
project-defined role that access rules see as auth.role.

In a pipe, only the new user's id is printed.`,
		Example: `  sov auth users create --email ada@example.com
  ID=$(sov auth users create --email ada@example.com --password-stdin --verified --role editor < pw.txt)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Client = shared.Client(f, cmd)
			opts.Prompter = prompt.New(f.IO)
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Email, "email", "", "the user's email (asked for on a terminal)")
	cmd.Flags().BoolVar(&opts.PasswordStdin, "password-stdin", false, "read the password from stdin")
	cmd.Flags().BoolVar(&opts.Verified, "verified", false, "mark the email verified; no mail is sent")
	cmd.Flags().StringVar(&opts.Role, "role", "", `a project-defined role (default "authenticated")`)
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

// Run asks for what the flags leave out and creates the user.
func Run(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	email, password, err := login.Ask(opts.IO, opts.Prompter, opts.Email, opts.PasswordStdin, true)
	if err != nil {
		return err
	}
	u, err := c.AuthAdmin().CreateUser(ctx, sovereign.CreateUserParams{
		Email: email, Password: password, EmailVerified: opts.Verified, Role: opts.Role,
	})
	if err != nil {
		return err
	}
	switch {
	case opts.JSON:
		return factory.PrintJSON(opts.IO.Out, u)
	case opts.IO.OutTTY:
		_, err = fmt.Fprintf(opts.IO.Out, "✓ Created user %s (id %s, role %s)\n", u.Email, u.ID, u.Role)
	default:
		_, err = fmt.Fprintln(opts.IO.Out, u.ID)
	}
	return err
}

// Package revoke is `sov auth sessions revoke`.
package revoke

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/db/shared"
	"github.com/sovereign-backend/sovereign/cli/factory"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov auth sessions revoke`.
type Options struct {
	IO *factory.IOStreams
	// Client returns a client of the project's data plane.
	Client func() (*sovereign.Client, error)
	UserID string
	JSON   bool
}

// Result is what --json prints.
type Result struct {
	UserID  string `json:"user_id"`
	Revoked int64  `json:"revoked"`
}

// NewCmdRevoke builds the command; runF replaces the run function in tests.
func NewCmdRevoke(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "revoke USER_ID",
		Short: "Sign a user out everywhere",
		Long: `End every session of a user: their refresh tokens stop working, so each of
their devices must sign in again (an access token already issued may still
be accepted until it expires, within 30 minutes). The user can sign in
again; ` + "`sov auth users disable`" + ` also stops that.

In a pipe, only the number of sessions ended is printed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Client = shared.Client(f, cmd)
			opts.UserID = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

// Run revokes the sessions.
func Run(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	n, err := c.AuthAdmin().RevokeSessions(ctx, opts.UserID)
	if err != nil {
		return err
	}
	switch {
	case opts.JSON:
		return factory.PrintJSON(opts.IO.Out, Result{UserID: opts.UserID, Revoked: n})
	case opts.IO.OutTTY:
		s := "s"
		if n == 1 {
			s = ""
		}
		_, err = fmt.Fprintf(opts.IO.Out, "✓ Ended %d session%s of user %s\n", n, s, opts.UserID)
	default:
		_, err = fmt.Fprintln(opts.IO.Out, n)
	}
	return err
}

// Package logout is `sov logout`: end the profile's session and forget its
// credentials.
package logout

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/credentials"
	"github.com/sovereign-backend/sovereign/cli/factory"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov logout`.
type Options struct {
	IO *factory.IOStreams
	// LoggedInProfile returns the profile's credentials, or an error when
	// it has none.
	LoggedInProfile func() (*credentials.Profile, error)
	// Client returns a client signed in as the profile.
	Client func() (*sovereign.ManagementClient, error)
	// Forget removes the profile's credentials.
	Forget  func() error
	Profile string
	JSON    bool
}

// Result is what `sov logout --json` prints.
type Result struct {
	Profile string `json:"profile"`
	// SessionEnded is true when the platform ended the session; false for a
	// personal access token, which stays valid until revoked.
	SessionEnded bool `json:"session_ended"`
}

// NewCmdLogout builds the command; runF replaces the run function in tests.
func NewCmdLogout(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, LoggedInProfile: f.LoggedInProfile, Client: f.Client, Forget: f.Forget}
	cmd := &cobra.Command{
		Use:   "logout",
		Short: "End the session and forget the profile's credentials",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Profile = f.ProfileName()
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

// Run ends the session on the platform, then forgets it here. The
// credentials are forgotten even when the platform cannot be reached, with a
// warning: a stale session ends by itself.
func Run(ctx context.Context, opts *Options) error {
	p, err := opts.LoggedInProfile()
	if err != nil {
		return err
	}
	res := Result{Profile: opts.Profile}
	if p.Session != nil && p.Token == "" {
		mc, err := opts.Client()
		if err == nil {
			err = mc.Logout(ctx)
		}
		switch {
		case err == nil:
			res.SessionEnded = true
		case sovereign.IsUnauthenticated(err) || factory.ExitCode(err) == factory.ExitAuth:
			// Already over.
			res.SessionEnded = true
		default:
			fmt.Fprintf(opts.IO.ErrOut, "warning: the platform did not end the session (%v); it expires by itself\n", err)
		}
	}
	if err := opts.Forget(); err != nil {
		return err
	}
	switch {
	case opts.JSON:
		return factory.PrintJSON(opts.IO.Out, res)
	case opts.IO.OutTTY:
		fmt.Fprintf(opts.IO.Out, "✓ Logged out of %s (profile %q)\n", p.Email, opts.Profile)
		if p.Token != "" {
			fmt.Fprintln(opts.IO.Out, "The personal access token still works until it is revoked (`sov tokens revoke`).")
		}
	}
	return nil
}

// Package list is `sov auth users list`.
package list

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/auth/internal/authprint"
	"github.com/sovereign-backend/sovereign/cli/db/shared"
	"github.com/sovereign-backend/sovereign/cli/factory"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov auth users list`.
type Options struct {
	IO *factory.IOStreams
	// Client returns a client of the project's data plane.
	Client func() (*sovereign.Client, error)
	Now    func() time.Time
	// EmailPrefix keeps the users whose email starts with it.
	EmailPrefix string
	// Limit is the most users to print; 0 for all.
	Limit int
	JSON  bool
}

// NewCmdList builds the command; runF replaces the run function in tests.
func NewCmdList(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Now: f.Now}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the project's users",
		Long: `List the project's users, oldest first unless the platform says otherwise:
id, email ("(anonymous)" on a terminal for users who signed in anonymously
and have not signed up yet), role, whether the email is verified, whether
the user is disabled or has MFA, their sign-in providers, and when they
were created and last signed in.`,
		Example: `  sov auth users list
  sov auth users list --email-prefix ada --limit 10
  sov auth users list --json | jq -r '.[].email'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Client = shared.Client(f, cmd)
			if opts.Limit < 0 {
				return factory.UsageError("--limit must not be negative")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.EmailPrefix, "email-prefix", "", "only users whose email starts with this")
	cmd.Flags().IntVar(&opts.Limit, "limit", 0, "print at most this many users (default: all)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

// Run lists the users.
func Run(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	p := sovereign.ListUsersParams{EmailPrefix: opts.EmailPrefix}
	if opts.Limit > 0 {
		p.PageSize = min(opts.Limit, sovereign.MaxPageSize)
	}
	var users []*sovereign.User
	for u, err := range c.AuthAdmin().Users(ctx, p) {
		if err != nil {
			return err
		}
		users = append(users, u)
		if len(users) == opts.Limit {
			break
		}
	}
	return authprint.PrintUsers(opts.IO, opts.Now(), users, opts.JSON)
}

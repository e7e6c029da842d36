// Package auth is `sov auth`: a project's end users, their sessions, the
// OAuth providers they sign in with, and the keys their tokens are signed
// with. Its commands reach the project's data plane with the project's
// secret API key (--key or SOV_KEY), as the service role.
package auth

import (
	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/auth/keys"
	"github.com/sovereign-backend/sovereign/cli/auth/providers"
	"github.com/sovereign-backend/sovereign/cli/auth/sessions"
	"github.com/sovereign-backend/sovereign/cli/auth/users"
	"github.com/sovereign-backend/sovereign/cli/db/shared"
	"github.com/sovereign-backend/sovereign/cli/factory"
)

// NewCmdAuth builds `sov auth` and its subcommands.
func NewCmdAuth(f *factory.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "auth",
		Short: "A project's end users, sessions, OAuth providers and token signing keys",
		Long: `Manage the users of your app (the people who sign in to it, not the accounts
of this platform): list, create, disable and delete them, give them roles
that access rules can check, end their sessions, configure the OAuth / OpenID
Connect providers they sign in with, and rotate the keys their access tokens
are signed with.

The commands act for the project whose secret API key is given with --key
or in SOV_KEY (` + "`sov keys create --kind secret`" + ` makes one), on the data plane
of --data-url or the profile. Apps sign users in with the SDK and the
publishable key; what each user may do with a collection is set with
` + "`sov db rules set`" + `.`,
		Example: `  export SOV_KEY=sov_sk_…
  sov auth users list --email-prefix ada
  sov auth users create --email ada@example.com --password-stdin --verified --role editor < pw.txt
  sov auth sessions revoke 0190c4f2-…
  sov auth keys rotate`,
	}
	shared.AddKeyFlag(cmd)
	cmd.AddCommand(users.NewCmdUsers(f), sessions.NewCmdSessions(f), providers.NewCmdProviders(f), keys.NewCmdKeys(f))
	return cmd
}

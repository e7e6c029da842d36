// Package signup is `sov signup`: create an account and sign in with it.
package signup

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/credentials"
	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/login"
	"github.com/sovereign-backend/sovereign/cli/prompt"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov signup`.
type Options struct {
	IO       *factory.IOStreams
	Prompter prompt.Prompter
	// Endpoints returns the control and data plane URLs to sign up on.
	Endpoints func() (apiURL, dataURL string, err error)
	// ClientOptions are passed to the SDK client.
	ClientOptions []sovereign.Option
	// Save stores the new session in the profile.
	Save func(*credentials.Profile) error
	// Profile names the profile, for messages.
	Profile string

	Email         string
	PasswordStdin bool
	JSON          bool
}

// NewCmdSignup builds the command; runF replaces the run function in tests.
func NewCmdSignup(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Endpoints: f.Endpoints, Save: f.SaveLogin}
	cmd := &cobra.Command{
		Use:   "signup",
		Short: "Create an account and sign in with it",
		Long: `Create an account with your email and a password (at least 10 characters,
not only letters or only digits, not the email), and sign in with it.

The platform mails a verification link; on a local platform, read it with
` + "`sov dev mail`" + `.`,
		Example: `  sov signup
  sov signup --email dev@example.com --password-stdin < password.txt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Prompter = prompt.New(f.IO)
			opts.ClientOptions = f.ClientOptions
			opts.Profile = f.ProfileName()
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Email, "email", "", "account email")
	cmd.Flags().BoolVar(&opts.PasswordStdin, "password-stdin", false, "read the password from stdin")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

// Run creates the account and saves its session.
func Run(ctx context.Context, opts *Options) error {
	apiURL, dataURL, err := opts.Endpoints()
	if err != nil {
		return err
	}
	email, password, err := login.Ask(opts.IO, opts.Prompter, opts.Email, opts.PasswordStdin, true)
	if err != nil {
		return err
	}
	sess, err := sovereign.NewManagementClient(apiURL, opts.ClientOptions...).Signup(ctx, email, password)
	if err != nil {
		return err
	}
	if sess.Account == nil {
		sess.Account = &sovereign.Account{Email: email}
	}
	if err := opts.Save(&credentials.Profile{APIURL: apiURL, DataURL: dataURL, Email: sess.Account.Email, Session: sess}); err != nil {
		return err
	}
	return login.Print(opts.IO, opts.JSON, "Signed up and logged in", login.Result{
		Profile: opts.Profile, APIURL: apiURL, Account: sess.Account, Credential: sovereign.CredentialSession,
	})
}

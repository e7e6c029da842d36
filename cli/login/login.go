// Package login is `sov login`: sign in with an email and password, or with
// a personal access token, and keep the credentials in the profile.
package login

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/credentials"
	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/prompt"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov login`.
type Options struct {
	IO       *factory.IOStreams
	Prompter prompt.Prompter
	// Endpoints returns the control and data plane URLs to sign in to.
	Endpoints func() (apiURL, dataURL string, err error)
	// ClientOptions are passed to the SDK client.
	ClientOptions []sovereign.Option
	// Save stores the credentials in the profile.
	Save func(*credentials.Profile) error
	// Profile names the profile, for messages.
	Profile string

	Email         string
	PasswordStdin bool
	Token         string
	JSON          bool
}

// Result is what `sov login --json` and `sov signup --json` print; it never
// holds a secret.
type Result struct {
	Profile    string             `json:"profile"`
	APIURL     string             `json:"api_url"`
	Account    *sovereign.Account `json:"account"`
	Credential string             `json:"credential"`
}

// NewCmdLogin builds the command; runF replaces the run function in tests.
func NewCmdLogin(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Endpoints: f.Endpoints, Save: f.SaveLogin}
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Sign in to the platform and keep the credentials in the profile",
		Long: `Sign in with your email and password (asked for on a terminal), or with a
personal access token (--token, made with ` + "`sov tokens create`" + `) for CI.

The credentials are kept in the profile (--profile, default "default") in
credentials.json in your config directory, readable only by you.`,
		Example: `  sov login
  sov login --email dev@example.com --password-stdin < password.txt
  sov login --token "$SOV_TOKEN"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Prompter = prompt.New(f.IO)
			opts.ClientOptions = f.ClientOptions
			opts.Profile = f.ProfileName()
			if opts.Token != "" && (opts.Email != "" || opts.PasswordStdin) {
				return factory.UsageError("--token cannot be used with --email or --password-stdin")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Email, "email", "", "account email")
	cmd.Flags().BoolVar(&opts.PasswordStdin, "password-stdin", false, "read the password from stdin")
	cmd.Flags().StringVar(&opts.Token, "token", "", "sign in with a personal access token (sov_pat_…)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

// Run signs in and saves the credentials.
func Run(ctx context.Context, opts *Options) error {
	apiURL, dataURL, err := opts.Endpoints()
	if err != nil {
		return err
	}
	var (
		profile *credentials.Profile
		res     = Result{Profile: opts.Profile, APIURL: apiURL}
	)
	if opts.Token != "" {
		mc := sovereign.NewManagementClient(apiURL, append(opts.ClientOptions, sovereign.WithToken(opts.Token))...)
		who, err := mc.WhoAmI(ctx)
		if err != nil {
			return fmt.Errorf("check the token: %w", err)
		}
		profile = &credentials.Profile{APIURL: apiURL, DataURL: dataURL, Email: who.Account.Email, Token: opts.Token}
		res.Account, res.Credential = who.Account, who.Credential
	} else {
		email, password, err := Ask(opts.IO, opts.Prompter, opts.Email, opts.PasswordStdin, false)
		if err != nil {
			return err
		}
		mc := sovereign.NewManagementClient(apiURL, opts.ClientOptions...)
		sess, err := mc.Login(ctx, email, password)
		if err != nil {
			return err
		}
		if sess.Account == nil {
			sess.Account = &sovereign.Account{Email: email}
		}
		profile = &credentials.Profile{APIURL: apiURL, DataURL: dataURL, Email: sess.Account.Email, Session: sess}
		res.Account, res.Credential = sess.Account, sovereign.CredentialSession
	}
	if err := opts.Save(profile); err != nil {
		return err
	}
	return Print(opts.IO, opts.JSON, "Logged in", res)
}

// Print reports a sign-in: JSON, a sentence on a terminal, or
// "email<TAB>account id<TAB>profile" in a pipe.
func Print(io *factory.IOStreams, asJSON bool, verb string, res Result) error {
	switch {
	case asJSON:
		return factory.PrintJSON(io.Out, res)
	case io.OutTTY:
		_, err := fmt.Fprintf(io.Out, "✓ %s as %s (profile %q, %s)\n", verb, res.Account.Email, res.Profile, res.APIURL)
		return err
	default:
		_, err := fmt.Fprintf(io.Out, "%s\t%s\t%s\n", res.Account.Email, res.Account.ID, res.Profile)
		return err
	}
}

// Ask returns the email and password: from the flags, else from prompts on
// a terminal. With stdin not a terminal, a missing one is an error naming its
// flag. confirm asks for a new password twice.
func Ask(io *factory.IOStreams, p prompt.Prompter, email string, passwordStdin, confirm bool) (string, string, error) {
	if email == "" {
		if !io.InTTY || passwordStdin {
			return "", "", prompt.NeedFlag("--email")
		}
		var err error
		if email, err = p.Input("Email"); err != nil {
			return "", "", err
		}
		if email == "" {
			return "", "", factory.UsageError("no email given")
		}
	}
	if passwordStdin {
		pw, err := prompt.ReadSecret(io.In)
		return email, pw, err
	}
	if !io.InTTY {
		return "", "", prompt.NeedFlag("--password-stdin")
	}
	pw, err := p.Password("Password")
	if err != nil {
		return "", "", err
	}
	if confirm {
		again, err := p.Password("Password again")
		if err != nil {
			return "", "", err
		}
		if again != pw {
			return "", "", factory.UsageError("the passwords differ")
		}
	}
	return email, pw, nil
}

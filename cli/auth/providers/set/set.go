// Package set is `sov auth providers set`.
package set

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/db/shared"
	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/prompt"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov auth providers set`.
type Options struct {
	IO       *factory.IOStreams
	Prompter prompt.Prompter
	// Client returns a client of the project's data plane.
	Client            func() (*sovereign.Client, error)
	Name              string
	Issuer            string
	ClientID          string
	ClientSecretStdin bool
	// Scopes and RedirectURLs as given, each flag value possibly
	// comma-separated.
	Scopes       []string
	RedirectURLs []string
	JSON         bool
}

// NewCmdSet builds the command; runF replaces the run function in tests.
func NewCmdSet(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "set NAME",
		Short: "Create or replace an OAuth / OpenID Connect provider",
		Long: `Create the provider NAME, or replace it: apps then start sign-in with it by
name (the SDK's Auth().OAuthURL). The platform fetches the issuer's
/.well-known/openid-configuration and refuses an issuer it cannot use.

Register the project's callback URL with the provider first. The client
secret is asked for on a terminal, or read from stdin with
--client-secret-stdin; it is never a flag, and never shown again. Setting
a provider replaces all of it, secret included.

--scope adds scopes besides openid and email; --redirect-url lists the
exact URLs an app may ask the browser to be sent back to. Both repeat, or
take comma-separated values.`,
		Example: `  sov auth providers set google --issuer https://accounts.google.com \
    --client-id 1234.apps.googleusercontent.com --client-secret-stdin \
    --scope profile --redirect-url https://app.example.com/signed-in < secret.txt`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Client = shared.Client(f, cmd)
			opts.Prompter = prompt.New(f.IO)
			opts.Name = args[0]
			if opts.Issuer == "" || opts.ClientID == "" {
				return factory.UsageError("--issuer and --client-id are required")
			}
			if u, err := url.Parse(opts.Issuer); err != nil || u.Scheme == "" || u.Host == "" {
				return factory.UsageError("--issuer %q is not an absolute URL", opts.Issuer)
			}
			opts.Scopes, opts.RedirectURLs = shared.SplitList(opts.Scopes), shared.SplitList(opts.RedirectURLs)
			for _, r := range opts.RedirectURLs {
				if u, err := url.Parse(r); err != nil || u.Scheme == "" || u.Host == "" {
					return factory.UsageError("--redirect-url %q is not an absolute URL", r)
				}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Issuer, "issuer", "", "the OIDC issuer URL, e.g. https://accounts.google.com (required)")
	cmd.Flags().StringVar(&opts.ClientID, "client-id", "", "the OAuth client id the provider gave you (required)")
	cmd.Flags().BoolVar(&opts.ClientSecretStdin, "client-secret-stdin", false, "read the client secret from stdin")
	cmd.Flags().StringArrayVar(&opts.Scopes, "scope", nil, "a scope to ask for besides openid and email (repeats)")
	cmd.Flags().StringArrayVar(&opts.RedirectURLs, "redirect-url", nil, "a URL apps may return to after sign-in (repeats)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

// Run reads the secret and sets the provider.
func Run(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	secret, err := readSecret(opts)
	if err != nil {
		return err
	}
	p, err := c.AuthAdmin().SetProvider(ctx, sovereign.Provider{
		Name: opts.Name, Issuer: opts.Issuer, ClientID: opts.ClientID, ClientSecret: secret,
		Scopes: opts.Scopes, RedirectURLs: opts.RedirectURLs,
	})
	if err != nil {
		return err
	}
	switch {
	case opts.JSON:
		return factory.PrintJSON(opts.IO.Out, p)
	case opts.IO.OutTTY:
		_, err = fmt.Fprintf(opts.IO.Out, "✓ Set provider %s (%s)\n", p.Name, p.Issuer)
	}
	return err
}

func readSecret(opts *Options) (string, error) {
	if opts.ClientSecretStdin {
		b, err := io.ReadAll(opts.IO.In)
		if err != nil {
			return "", err
		}
		s := strings.TrimRight(string(b), "\r\n")
		if s == "" {
			return "", factory.UsageError("stdin is empty: pipe the client secret into --client-secret-stdin")
		}
		return s, nil
	}
	if !opts.IO.InTTY {
		return "", prompt.NeedFlag("--client-secret-stdin")
	}
	s, err := opts.Prompter.Password("Client secret")
	if err != nil {
		return "", err
	}
	if s == "" {
		return "", factory.UsageError("no client secret given")
	}
	return s, nil
}

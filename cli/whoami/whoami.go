// Package whoami is `sov whoami`: the account the profile signs in as.
package whoami

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/tableprinter"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov whoami`.
type Options struct {
	IO *factory.IOStreams
	// Client returns a client signed in as the profile.
	Client func() (*sovereign.ManagementClient, error)
	// Endpoints returns the platform's URLs, for display.
	Endpoints func() (apiURL, dataURL string, err error)
	Profile   string
	JSON      bool
}

// Result is what `sov whoami --json` prints.
type Result struct {
	Account    *sovereign.Account `json:"account"`
	Credential string             `json:"credential"`
	Profile    string             `json:"profile"`
	APIURL     string             `json:"api_url"`
}

// NewCmdWhoAmI builds the command; runF replaces the run function in tests.
func NewCmdWhoAmI(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Client: f.Client, Endpoints: f.Endpoints}
	cmd := &cobra.Command{
		Use:   "whoami",
		Short: "Show the account you are signed in as",
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

// Run asks the platform who the credentials belong to.
func Run(ctx context.Context, opts *Options) error {
	mc, err := opts.Client()
	if err != nil {
		return err
	}
	who, err := mc.WhoAmI(ctx)
	if err != nil {
		return err
	}
	apiURL, _, err := opts.Endpoints()
	if err != nil {
		return err
	}
	res := Result{Account: who.Account, Credential: who.Credential, Profile: opts.Profile, APIURL: apiURL}
	if opts.JSON {
		return factory.PrintJSON(opts.IO.Out, res)
	}
	verified := "not verified"
	if who.Account.EmailVerified {
		verified = "verified"
	}
	if !opts.IO.OutTTY {
		_, err := fmt.Fprintf(opts.IO.Out, "%s\t%s\t%s\t%s\t%s\t%s\n", who.Account.Email, who.Account.ID, verified, who.Credential, opts.Profile, apiURL)
		return err
	}
	tp := tableprinter.New(opts.IO.Out, true, time.Now())
	for _, row := range [][2]string{
		{"Email", who.Account.Email + " (" + verified + ")"},
		{"Account", who.Account.ID},
		{"Signed in with", who.Credential},
		{"Profile", opts.Profile},
		{"Platform", apiURL},
	} {
		tp.Field(row[0])
		tp.Field(row[1])
		tp.EndRow()
	}
	return tp.Render()
}

// Package members is `sov orgs members`: list an organization's members and
// pending invitations; its subcommands invite and remove.
package members

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/orgarg"
	"github.com/sovereign-backend/sovereign/cli/orgs/members/invite"
	"github.com/sovereign-backend/sovereign/cli/orgs/members/remove"
	"github.com/sovereign-backend/sovereign/cli/tableprinter"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov orgs members`.
type Options struct {
	IO *factory.IOStreams
	// Client returns a client signed in as the profile.
	Client func() (*sovereign.ManagementClient, error)
	Now    func() time.Time
	Org    string
	JSON   bool
}

// Result is what `sov orgs members --json` prints.
type Result struct {
	Organization *sovereign.Organization `json:"organization"`
	Members      []*sovereign.Member     `json:"members"`
	Invitations  []*sovereign.Invitation `json:"invitations"`
}

// NewCmdMembers builds the command and its subcommands; runF replaces the
// run function in tests.
func NewCmdMembers(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Client: f.Client, Now: f.Now}
	cmd := &cobra.Command{
		Use:   "members",
		Short: "List an organization's members and pending invitations",
		Example: `  sov orgs members --org Acme
  sov orgs members invite ada@example.com --role developer --org Acme
  sov orgs members remove ada@example.com --org Acme`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Org, "org", "", orgarg.Usage)
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	cmd.AddCommand(invite.NewCmdInvite(f, nil), remove.NewCmdRemove(f, nil))
	return cmd
}

// Run lists members, then invitations: email, role, status (member or
// invited), id (account or invitation), joined, expires.
func Run(ctx context.Context, opts *Options) error {
	mc, err := opts.Client()
	if err != nil {
		return err
	}
	org, err := orgarg.Resolve(ctx, mc, opts.Org)
	if err != nil {
		return err
	}
	members, err := sovereign.Collect(mc.Members(ctx, org.ID))
	if err != nil {
		return err
	}
	invitations, err := sovereign.Collect(mc.Invitations(ctx, org.ID))
	if err != nil {
		return err
	}
	if opts.JSON {
		return factory.PrintJSON(opts.IO.Out, Result{Organization: org, Members: factory.NonNil(members), Invitations: factory.NonNil(invitations)})
	}
	tp := tableprinter.New(opts.IO.Out, opts.IO.OutTTY, opts.Now(), "email", "role", "status", "id", "joined", "expires")
	for _, m := range members {
		tp.Field(m.Email)
		tp.Field(string(m.Role))
		tp.Field("member")
		tp.Field(m.AccountID)
		tp.Time(m.JoinedAt)
		tp.Time(time.Time{})
		tp.EndRow()
	}
	for _, inv := range invitations {
		tp.Field(inv.Email)
		tp.Field(string(inv.Role))
		tp.Field("invited")
		tp.Field(inv.ID)
		tp.Time(time.Time{})
		tp.Time(inv.ExpiresAt)
		tp.EndRow()
	}
	return tp.Render()
}

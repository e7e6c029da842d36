// Package invite is `sov orgs members invite`.
package invite

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/orgarg"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov orgs members invite`.
type Options struct {
	IO *factory.IOStreams
	// Client returns a client signed in as the profile.
	Client func() (*sovereign.ManagementClient, error)
	Org    string
	Email  string
	Role   string
	JSON   bool
}

// Result is what `sov orgs members invite --json` prints.
type Result struct {
	*sovereign.Invitation
	OrganizationID string `json:"organization_id"`
	// Token is the invitation token, shown once; it is also mailed.
	Token string `json:"token"`
}

// NewCmdInvite builds the command; runF replaces the run function in tests.
func NewCmdInvite(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Client: f.Client}
	cmd := &cobra.Command{
		Use:   "invite EMAIL",
		Short: "Invite someone to an organization with a role",
		Long: `Invite someone to an organization. Roles, from most to least: owner, admin,
developer, viewer. The invitation is mailed; its token is printed once too.`,
		Example: `  sov orgs members invite ada@example.com --role developer --org Acme`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Email = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Org, "org", "", orgarg.Usage)
	cmd.Flags().StringVar(&opts.Role, "role", string(sovereign.RoleDeveloper), "owner, admin, developer or viewer")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

// Run sends the invitation.
func Run(ctx context.Context, opts *Options) error {
	switch r := sovereign.Role(opts.Role); r {
	case sovereign.RoleOwner, sovereign.RoleAdmin, sovereign.RoleDeveloper, sovereign.RoleViewer:
	default:
		return factory.UsageError("--role %q: use owner, admin, developer or viewer", opts.Role)
	}
	mc, err := opts.Client()
	if err != nil {
		return err
	}
	org, err := orgarg.Resolve(ctx, mc, opts.Org)
	if err != nil {
		return err
	}
	inv, token, err := mc.InviteMember(ctx, org.ID, opts.Email, sovereign.Role(opts.Role))
	if err != nil {
		return err
	}
	switch {
	case opts.JSON:
		return factory.PrintJSON(opts.IO.Out, Result{Invitation: inv, OrganizationID: org.ID, Token: token})
	case opts.IO.OutTTY:
		_, err = fmt.Fprintf(opts.IO.Out, "✓ Invited %s to %s as %s; the invitation is mailed.\n  Token (shown once): %s\n", inv.Email, org.Name, inv.Role, token)
	default:
		_, err = fmt.Fprintf(opts.IO.Out, "%s\t%s\t%s\t%s\n", inv.ID, inv.Email, inv.Role, token)
	}
	return err
}

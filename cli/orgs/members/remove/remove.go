// Package remove is `sov orgs members remove`.
package remove

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/orgarg"
	"github.com/sovereign-backend/sovereign/cli/prompt"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov orgs members remove`.
type Options struct {
	IO       *factory.IOStreams
	Prompter prompt.Prompter
	// Client returns a client signed in as the profile.
	Client func() (*sovereign.ManagementClient, error)
	Org    string
	// Member is the member's email or account id.
	Member string
	Yes    bool
	JSON   bool
}

// Result is what `sov orgs members remove --json` prints.
type Result struct {
	OrganizationID string `json:"organization_id"`
	AccountID      string `json:"account_id"`
	Email          string `json:"email"`
	Removed        bool   `json:"removed"`
}

// NewCmdRemove builds the command; runF replaces the run function in tests.
func NewCmdRemove(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Client: f.Client}
	cmd := &cobra.Command{
		Use:     "remove EMAIL|ACCOUNT_ID",
		Short:   "Remove a member from an organization",
		Example: `  sov orgs members remove ada@example.com --org Acme --yes`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Member = args[0]
			opts.Prompter = prompt.New(f.IO)
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Org, "org", "", orgarg.Usage)
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "do not ask for confirmation")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

// Run finds the member by email or account id, confirms and removes them.
func Run(ctx context.Context, opts *Options) error {
	mc, err := opts.Client()
	if err != nil {
		return err
	}
	org, err := orgarg.Resolve(ctx, mc, opts.Org)
	if err != nil {
		return err
	}
	var member *sovereign.Member
	for m, err := range mc.Members(ctx, org.ID) {
		if err != nil {
			return err
		}
		if m.AccountID == opts.Member || strings.EqualFold(m.Email, opts.Member) {
			member = m
			break
		}
	}
	if member == nil {
		return factory.NotFoundError("%s is not a member of %s", opts.Member, org.Name)
	}
	if err := prompt.ConfirmOrYes(opts.IO, opts.Prompter, opts.Yes, fmt.Sprintf("Remove %s (%s) from %s?", member.Email, member.Role, org.Name)); err != nil {
		return err
	}
	if err := mc.RemoveMember(ctx, org.ID, member.AccountID); err != nil {
		return err
	}
	switch {
	case opts.JSON:
		return factory.PrintJSON(opts.IO.Out, Result{OrganizationID: org.ID, AccountID: member.AccountID, Email: member.Email, Removed: true})
	case opts.IO.OutTTY:
		_, err = fmt.Fprintf(opts.IO.Out, "✓ Removed %s from %s\n", member.Email, org.Name)
	}
	return err
}

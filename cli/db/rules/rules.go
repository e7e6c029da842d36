// Package rules is `sov db rules`: a collection's access rules.
package rules

import (
	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/db/rules/get"
	"github.com/sovereign-backend/sovereign/cli/db/rules/set"
	"github.com/sovereign-backend/sovereign/cli/factory"
)

// NewCmdRules builds `sov db rules` and its subcommands.
func NewCmdRules(f *factory.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "rules",
		Aliases: []string{"rule"},
		Short:   "Show and set a collection's access rules",
		Long: `Access rules decide what an app's users may do with a collection's records.
Each of the five operations (list, view, create, update, delete) has an
expression in the same language as query filters, with auth (uid, role,
aal, claims), record and request in scope; the operation is allowed where
it is true.

A missing rule denies that operation to everyone but the secret key, which
bypasses the rules. The list rule also filters what queries return.`,
		Example: `  sov db rules set posts --list "true" --view "true" --create "auth.uid != ''" \
    --update "record.owner == auth.uid"
  sov db rules get posts > rules.json`,
	}
	cmd.AddCommand(get.NewCmdGet(f, nil), set.NewCmdSet(f, nil))
	return cmd
}

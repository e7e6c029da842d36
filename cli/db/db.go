// Package db is `sov db`: a project's collections and records, from the
// command line. Its commands reach the project's data plane with the
// project's secret API key (--key or SOV_KEY).
package db

import (
	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/db/collections"
	"github.com/sovereign-backend/sovereign/cli/db/export"
	"github.com/sovereign-backend/sovereign/cli/db/history"
	"github.com/sovereign-backend/sovereign/cli/db/importcmd"
	"github.com/sovereign-backend/sovereign/cli/db/query"
	"github.com/sovereign-backend/sovereign/cli/db/records"
	"github.com/sovereign-backend/sovereign/cli/db/rules"
	"github.com/sovereign-backend/sovereign/cli/db/shared"
	"github.com/sovereign-backend/sovereign/cli/db/watch"
	"github.com/sovereign-backend/sovereign/cli/factory"
)

// NewCmdDB builds `sov db` and its subcommands.
func NewCmdDB(f *factory.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "db",
		Short: "A project's collections and records: schema, reads, writes, queries, import and export",
		Long: `Work with a project's data: collections (typed tables), their records, queries
in the platform's expression language, NDJSON export and import, and the
schema history.

The commands act for the project whose secret API key is given with --key
or in SOV_KEY (` + "`sov projects create`" + ` prints one; ` + "`sov keys create --kind secret`" + `
makes more), on the data plane of --data-url or the profile.`,
		Example: `  export SOV_KEY=sov_sk_…
  sov db collections create posts --field title:text:required --field n:integer --index n
  sov db records insert posts '{"title": "hello", "n": 1}'
  sov db query posts 'n > 0 && title.startsWith("h")' --sort -created_at
  sov db export posts > posts.ndjson`,
	}
	shared.AddKeyFlag(cmd)
	cmd.AddCommand(
		collections.NewCmdCollections(f), records.NewCmdRecords(f),
		query.NewCmdQuery(f, nil), export.NewCmdExport(f, nil), importcmd.NewCmdImport(f, nil),
		history.NewCmdHistory(f, nil), rules.NewCmdRules(f), watch.NewCmdWatch(f, nil),
	)
	return cmd
}

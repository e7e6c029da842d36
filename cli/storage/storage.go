// Package storage is `sov storage`: a project's buckets and the files in
// them, from the command line. Its commands reach the project's data plane
// with the project's secret API key (--key or SOV_KEY).
package storage

import (
	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/db/shared"
	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/storage/buckets"
	"github.com/sovereign-backend/sovereign/cli/storage/cp"
	"github.com/sovereign-backend/sovereign/cli/storage/ls"
	"github.com/sovereign-backend/sovereign/cli/storage/mv"
	"github.com/sovereign-backend/sovereign/cli/storage/rm"
	"github.com/sovereign-backend/sovereign/cli/storage/url"
	"github.com/sovereign-backend/sovereign/cli/storage/usage"
)

// NewCmdStorage builds `sov storage` and its subcommands.
func NewCmdStorage(f *factory.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "storage",
		Short: "A project's buckets and files: upload, download, list, signed URLs",
		Long: `Work with a project's file storage: buckets (with size limits, allowed
content types and access rules), the objects in them, copies between local
files and buckets, and signed URLs.

A remote path is sov://BUCKET/NAME; NAME may contain "/" to make folders.
The commands act for the project whose secret API key is given with --key
or in SOV_KEY, on the data plane of --data-url or the profile.`,
		Example: `  export SOV_KEY=sov_sk_…
  sov storage buckets create avatars --public --max-object-size 2MiB --allow-type 'image/*'
  sov storage cp ada.png sov://avatars/ada.png
  sov storage ls sov://avatars
  sov storage url sov://avatars/ada.png --expires 10m
  sov storage rm sov://avatars/ada.png`,
	}
	shared.AddKeyFlag(cmd)
	cmd.AddCommand(buckets.NewCmdBuckets(f), cp.NewCmdCp(f, nil), ls.NewCmdLs(f, nil), rm.NewCmdRm(f, nil),
		mv.NewCmdMv(f, nil), url.NewCmdURL(f, nil), usage.NewCmdUsage(f, nil))
	return cmd
}

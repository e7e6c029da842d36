// Package ls is `sov storage ls`: the objects of a bucket, by name.
package ls

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/db/shared"
	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/storage/internal/remote"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov storage ls`.
type Options struct {
	IO *factory.IOStreams
	// Client returns a client of the project's data plane.
	Client func() (*sovereign.Client, error)
	Now    func() time.Time
	// Path is the bucket and prefix to list; without one the buckets are
	// listed.
	Path *remote.Path
	// Recursive lists every object under the prefix instead of folding
	// names at "/".
	Recursive bool
	JSON      bool
}

// NewCmdLs builds the command; runF replaces the run function in tests.
func NewCmdLs(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Now: f.Now}
	cmd := &cobra.Command{
		Use:   "ls [sov://BUCKET[/PREFIX]] [--recursive]",
		Short: "List a bucket's objects (or, without a path, the buckets)",
		Long: `List the objects of a bucket whose names start with PREFIX, by name. Names
with a "/" past the prefix fold into one folder line (NAME/) unless
--recursive is given. Without a path, the project's buckets are listed.`,
		Example: `  sov storage ls sov://avatars
  sov storage ls sov://www/assets/ --recursive
  sov storage ls sov://docs --json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Client = shared.Client(f, cmd)
			if len(args) == 1 {
				p, err := remote.Parse(args[0])
				if err != nil {
					return factory.UsageError("%v", err)
				}
				opts.Path = &p
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Recursive, "recursive", "r", false, "list every object under the prefix, not folders")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

// Run prints the listing.
func Run(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	if opts.Path == nil {
		bs, err := c.Storage().ListBuckets(ctx)
		if err != nil {
			return err
		}
		return remote.PrintBuckets(opts.IO, opts.Now(), bs, opts.JSON)
	}
	lo := sovereign.ListOptions{Prefix: opts.Path.Name, Delimiter: "/", PageSize: 1000}
	if opts.Recursive {
		lo.Delimiter = ""
	}
	objs, err := sovereign.Collect(c.Storage().Bucket(opts.Path.Bucket).List(ctx, lo))
	if err != nil {
		return err
	}
	return remote.PrintObjects(opts.IO, opts.Now(), objs, opts.JSON)
}

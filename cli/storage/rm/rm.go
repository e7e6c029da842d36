// Package rm is `sov storage rm`: delete objects, or everything under a
// prefix with -r.
package rm

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/db/shared"
	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/storage/internal/remote"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov storage rm`.
type Options struct {
	IO *factory.IOStreams
	// Client returns a client of the project's data plane.
	Client func() (*sovereign.Client, error)
	// Paths are the objects (or, with Recursive, prefixes) to delete.
	Paths []remote.Path
	// Recursive deletes every object under each path.
	Recursive bool
	JSON      bool
}

// Result is what --json prints.
type Result struct {
	Deleted  []string `json:"deleted"`
	NotFound []string `json:"not_found"`
}

// NewCmdRm builds the command; runF replaces the run function in tests.
func NewCmdRm(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "rm sov://BUCKET/NAME... [-r]",
		Short: "Delete objects; with -r, every object under a prefix",
		Long: `Delete the named objects. With -r each path is a prefix and every object
under it is deleted (sov://BUCKET alone empties the bucket). Names that do
not exist are reported, and make the exit code 4, after the others are
deleted.`,
		Example: `  sov storage rm sov://avatars/ada.png sov://avatars/bob.png
  sov storage rm -r sov://www/old/`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Client = shared.Client(f, cmd)
			for _, a := range args {
				parse := remote.ParseObject
				if opts.Recursive {
					parse = remote.Parse
				}
				p, err := parse(a)
				if err != nil {
					if !opts.Recursive {
						return factory.UsageError("%v (pass -r to delete everything under a prefix)", err)
					}
					return factory.UsageError("%v", err)
				}
				opts.Paths = append(opts.Paths, p)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Recursive, "recursive", "r", false, "delete every object under each prefix")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the names deleted and not found as JSON")
	return cmd
}

// Run deletes the objects, bucket by bucket.
func Run(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	res := Result{Deleted: []string{}, NotFound: []string{}}
	for _, p := range opts.Paths {
		b := c.Storage().Bucket(p.Bucket)
		names := []string{p.Name}
		if opts.Recursive {
			names = nil
			for o, err := range b.List(ctx, sovereign.ListOptions{Prefix: p.Name, PageSize: 1000}) {
				if err != nil {
					return err
				}
				names = append(names, o.Name)
			}
			if len(names) == 0 {
				res.NotFound = append(res.NotFound, p.String())
				continue
			}
		}
		missing, err := b.Delete(ctx, names...)
		if err != nil {
			return err
		}
		gone := map[string]bool{}
		for _, n := range missing {
			gone[n] = true
			res.NotFound = append(res.NotFound, remote.Path{Bucket: p.Bucket, Name: n}.String())
		}
		for _, n := range names {
			if !gone[n] {
				res.Deleted = append(res.Deleted, remote.Path{Bucket: p.Bucket, Name: n}.String())
			}
		}
	}
	switch {
	case opts.JSON:
		if err := factory.PrintJSON(opts.IO.Out, res); err != nil {
			return err
		}
	case opts.IO.OutTTY:
		fmt.Fprintf(opts.IO.Out, "✓ deleted %d objects\n", len(res.Deleted))
	default:
		for _, n := range res.Deleted {
			fmt.Fprintln(opts.IO.Out, n)
		}
	}
	if len(res.NotFound) > 0 {
		return factory.NotFoundError("not found: %s", strings.Join(res.NotFound, ", "))
	}
	return nil
}

// Package mv is `sov storage mv`: rename an object, within its bucket or
// into another.
package mv

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/db/progress"
	"github.com/sovereign-backend/sovereign/cli/db/shared"
	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/storage/internal/remote"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov storage mv`.
type Options struct {
	IO *factory.IOStreams
	// Client returns a client of the project's data plane.
	Client   func() (*sovereign.Client, error)
	Src, Dst remote.Path
	JSON     bool
}

// NewCmdMv builds the command; runF replaces the run function in tests.
func NewCmdMv(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "mv sov://BUCKET/NAME sov://BUCKET/NAME",
		Short: "Move (rename) an object, within a bucket or to another",
		Long: `Move an object to a new name, in the same bucket or another one (whose limits
and allowed types apply). A destination that ends with / receives the object
under its own base name. Local files are copied with ` + "`sov storage cp`" + `.`,
		Example: `  sov storage mv sov://docs/draft.md sov://docs/final.md
  sov storage mv sov://inbox/a.pdf sov://archive/2024/`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Client = shared.Client(f, cmd)
			var err error
			if opts.Src, err = remote.ParseObject(args[0]); err != nil {
				return factory.UsageError("%v (mv moves one object between remote paths)", err)
			}
			if opts.Dst, err = remote.Parse(args[1]); err != nil {
				return factory.UsageError("%v (mv moves one object between remote paths)", err)
			}
			if opts.Dst.Name == "" || strings.HasSuffix(opts.Dst.Name, "/") {
				opts.Dst.Name += path.Base(opts.Src.Name)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the moved object as JSON")
	return cmd
}

// Run moves the object.
func Run(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	obj, err := c.Storage().Bucket(opts.Src.Bucket).Move(ctx, opts.Src.Name, opts.Dst.Bucket, opts.Dst.Name)
	if err != nil {
		return fmt.Errorf("move %s to %s: %w", opts.Src, opts.Dst, err)
	}
	switch {
	case opts.JSON:
		return factory.PrintJSON(opts.IO.Out, obj)
	case opts.IO.OutTTY:
		_, err = fmt.Fprintf(opts.IO.Out, "✓ %s → %s (%s)\n", opts.Src, opts.Dst, progress.Size(obj.Size))
	default:
		_, err = fmt.Fprintf(opts.IO.Out, "%s\t%s\t%d\n", opts.Src, opts.Dst, obj.Size)
	}
	return err
}

// Package url is `sov storage url`: a signed URL that downloads or uploads
// one object without an API key.
package url

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/db/shared"
	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/storage/internal/remote"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// MaxExpiry is the longest a signed URL lives: 7 days.
const MaxExpiry = 7 * 24 * time.Hour

// Options are the inputs of `sov storage url`.
type Options struct {
	IO *factory.IOStreams
	// Client returns a client of the project's data plane.
	Client func() (*sovereign.Client, error)
	Path   remote.Path
	// Expires is how long the URL works: 1 s to 7 days.
	Expires time.Duration
	// Upload makes a URL that PUTs the object instead of one that GETs it.
	Upload bool
	JSON   bool
}

// NewCmdURL builds the command; runF replaces the run function in tests.
func NewCmdURL(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "url sov://BUCKET/NAME [--expires 1h] [--upload]",
		Short: "Print a signed URL that downloads (or uploads) an object without a key",
		Long: `Print a URL that anyone holding it can use, until it expires, to download the
object (GET or HEAD) or, with --upload, to upload it (PUT, with the bucket's
limits and allowed types). ` + "`sov storage` signing-key rotation" + ` voids every URL
signed before.`,
		Example: `  sov storage url sov://docs/report.pdf --expires 15m
  curl -T photo.jpg "$(sov storage url sov://inbox/photo.jpg --upload)"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Client = shared.Client(f, cmd)
			p, err := remote.ParseObject(args[0])
			if err != nil {
				return factory.UsageError("%v", err)
			}
			opts.Path = p
			if opts.Expires < time.Second || opts.Expires > MaxExpiry {
				return factory.UsageError("--expires %s: want 1s to 168h (7 days)", opts.Expires)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().DurationVar(&opts.Expires, "expires", time.Hour, "how long the URL works, e.g. 15m, 24h (at most 168h)")
	cmd.Flags().BoolVar(&opts.Upload, "upload", false, "sign an upload (PUT) instead of a download (GET)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, `print {"url": …, "expires_at": …}`)
	return cmd
}

// Run prints the URL (and its expiry with --json).
func Run(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	method := http.MethodGet
	if opts.Upload {
		method = http.MethodPut
	}
	u, exp, err := c.Storage().Bucket(opts.Path.Bucket).SignedURL(ctx, opts.Path.Name, method, opts.Expires)
	if err != nil {
		return err
	}
	if opts.JSON {
		return factory.PrintJSON(opts.IO.Out, map[string]any{"url": u, "method": method, "expires_at": exp.UTC().Format(time.RFC3339)})
	}
	_, err = fmt.Fprintln(opts.IO.Out, u)
	return err
}

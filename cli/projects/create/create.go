// Package create is `sov projects create`: create a project, wait until its
// region serves it, and make its first keys.
package create

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/orgarg"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// Options are the inputs of `sov projects create`.
type Options struct {
	IO *factory.IOStreams
	// Client returns a client signed in as the profile.
	Client func() (*sovereign.ManagementClient, error)
	Name   string
	Org    string
	// Region is the region's name; empty means the only region.
	Region string
	// NoKeys skips making the secret and publishable keys.
	NoKeys bool
	// Timeout bounds the wait for provisioning.
	Timeout time.Duration
	JSON    bool
}

// Key is a key made by the command, with the key itself (shown once).
type Key struct {
	*sovereign.APIKey
	Key string `json:"key"`
}

// Result is what `sov projects create --json` prints: the project (with its
// ref and data_plane_url) and its new keys.
type Result struct {
	*sovereign.Project
	Keys []Key `json:"keys"`
}

// NewCmdCreate builds the command; runF replaces the run function in tests.
func NewCmdCreate(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Client: f.Client}
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a project, wait until it is active, and make its keys",
		Long: `Create a project in a region, show progress until the region has provisioned
it, then make a secret key and a publishable key (unless --no-keys) and print
the project's ref, data plane URL and keys. The keys are shown only once.`,
		Example: `  sov projects create shop --org Acme --region local
  sov projects create shop --json | jq -r '.keys[] | select(.kind == "secret") | .key'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if opts.Timeout <= 0 {
				return factory.UsageError("--timeout must be positive")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Org, "org", "", orgarg.Usage)
	cmd.Flags().StringVar(&opts.Region, "region", "", "region name, e.g. local (default: the only region)")
	cmd.Flags().BoolVar(&opts.NoKeys, "no-keys", false, "do not create keys")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 5*time.Minute, "how long to wait for provisioning")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

// Run creates the project, waits for it and makes its keys.
func Run(ctx context.Context, opts *Options) error {
	mc, err := opts.Client()
	if err != nil {
		return err
	}
	org, err := orgarg.Resolve(ctx, mc, opts.Org)
	if err != nil {
		return err
	}
	region, err := resolveRegion(ctx, mc, opts.Region)
	if err != nil {
		return err
	}
	p, err := mc.CreateProject(ctx, sovereign.CreateProjectParams{OrganizationID: org.ID, Name: opts.Name, Region: region})
	if err != nil {
		return err
	}

	created := p
	var stop func()
	if opts.IO.OutTTY && !opts.JSON {
		stop = spin(opts.IO.ErrOut, fmt.Sprintf("Provisioning %s (%s) in %s", p.Name, p.Ref, p.Region))
	}
	wctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	p, err = mc.WaitProjectActive(wctx, p.ID)
	cancel()
	if stop != nil {
		stop()
	}
	if err != nil {
		return fmt.Errorf("the project was created but is not active yet: %w (see `sov projects get %s`)", err, created.Ref)
	}

	res := Result{Project: p, Keys: []Key{}}
	if !opts.NoKeys {
		for _, kind := range []sovereign.KeyKind{sovereign.KeySecret, sovereign.KeyPublishable} {
			k, secret, err := mc.CreateAPIKey(ctx, sovereign.CreateAPIKeyParams{ProjectID: p.ID, Name: string(kind), Kind: kind})
			if err != nil {
				return fmt.Errorf("the project is active, but making its %s key failed: %w (retry with `sov keys create --project %s --kind %s`)", kind, err, p.Ref, kind)
			}
			res.Keys = append(res.Keys, Key{APIKey: k, Key: secret})
		}
	}
	if opts.JSON {
		return factory.PrintJSON(opts.IO.Out, res)
	}
	return printResult(opts.IO, res)
}

func printResult(io *factory.IOStreams, res Result) error {
	if !io.OutTTY {
		lines := [][2]string{{"ref", res.Ref}, {"data_plane_url", res.DataPlaneURL}}
		for _, k := range res.Keys {
			lines = append(lines, [2]string{string(k.Kind) + "_key", k.Key})
		}
		for _, l := range lines {
			if _, err := fmt.Fprintf(io.Out, "%s\t%s\n", l[0], l[1]); err != nil {
				return err
			}
		}
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "✓ Project %s is active\n", res.Name)
	fmt.Fprintf(&b, "  Ref          %s\n", res.Ref)
	fmt.Fprintf(&b, "  Region       %s\n", res.Region)
	fmt.Fprintf(&b, "  Data plane   %s\n", res.DataPlaneURL)
	for _, k := range res.Keys {
		fmt.Fprintf(&b, "  %-12s %s\n", strings.ToUpper(string(k.Kind[:1]))+string(k.Kind[1:]), k.Key)
	}
	if len(res.Keys) > 0 {
		b.WriteString("The keys are shown only this once: store them now. Keep the secret key on servers.\n")
	}
	_, err := io.Out.Write([]byte(b.String()))
	return err
}

// resolveRegion returns name, or the platform's only region when name is
// empty.
func resolveRegion(ctx context.Context, mc *sovereign.ManagementClient, name string) (string, error) {
	if name != "" {
		return name, nil
	}
	regions, err := sovereign.Collect(mc.Regions(ctx))
	if err != nil {
		return "", err
	}
	if len(regions) == 1 {
		return regions[0].Name, nil
	}
	names := make([]string, len(regions))
	for i, r := range regions {
		names[i] = r.Name
	}
	return "", factory.UsageError("choose a region with --region (%s)", strings.Join(names, ", "))
}

// spin shows label with a spinner on w until the returned stop is called.
func spin(w io.Writer, label string) (stop func()) {
	frames := []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			fmt.Fprintf(w, "\r%s %s…", frames[i%len(frames)], label)
			select {
			case <-done:
				fmt.Fprint(w, "\r\033[K")
				return
			case <-t.C:
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// Package root assembles the `sov` command tree and runs it.
package root

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/dev"
	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/status"
)

// Version is the CLI's version, set at link time.
var Version = "devel"

// NewCmdRoot builds `sov` on f.
func NewCmdRoot(f *factory.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:           "sov",
		Short:         "Sovereign's command line: projects, data, auth, files and a local platform",
		Version:       Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.SetIn(f.IO.In)
	cmd.SetOut(f.IO.Out)
	cmd.SetErr(f.IO.ErrOut)
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return factory.UsageError("%v", err) })
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.APIURL, "api-url", envOr("SOV_API_URL", factory.DefaultAPIURL), "control plane URL (env SOV_API_URL)")
	pf.StringVar(&f.DataURL, "data-url", envOr("SOV_DATA_URL", factory.DefaultDataURL), "data plane URL (env SOV_DATA_URL)")
	cmd.AddCommand(
		status.NewCmdStatus(f, nil),
		dev.NewCmdDev(f, nil),
	)
	return cmd
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// Main runs `sov` with the process's arguments and returns its exit code.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	f := factory.New()
	cmd := NewCmdRoot(f)
	cmd.SetArgs(os.Args[1:])
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(f.IO.ErrOut, "sov:", err)
		return factory.ExitCode(err)
	}
	return factory.ExitOK
}

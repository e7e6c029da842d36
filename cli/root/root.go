// Package root assembles the `sov` command tree and runs it.
package root

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/auth"
	"github.com/sovereign-backend/sovereign/cli/credentials"
	"github.com/sovereign-backend/sovereign/cli/db"
	"github.com/sovereign-backend/sovereign/cli/dev"
	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/keys"
	"github.com/sovereign-backend/sovereign/cli/login"
	"github.com/sovereign-backend/sovereign/cli/logout"
	"github.com/sovereign-backend/sovereign/cli/monitor"
	"github.com/sovereign-backend/sovereign/cli/orgs"
	"github.com/sovereign-backend/sovereign/cli/projects"
	"github.com/sovereign-backend/sovereign/cli/realtime"
	"github.com/sovereign-backend/sovereign/cli/regions"
	"github.com/sovereign-backend/sovereign/cli/signup"
	"github.com/sovereign-backend/sovereign/cli/status"
	"github.com/sovereign-backend/sovereign/cli/storage"
	"github.com/sovereign-backend/sovereign/cli/tokens"
	"github.com/sovereign-backend/sovereign/cli/whoami"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
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
	pf.StringVar(&f.APIURL, "api-url", os.Getenv("SOV_API_URL"),
		"control plane URL (env SOV_API_URL; default: the profile's, else "+factory.DefaultAPIURL+")")
	pf.StringVar(&f.DataURL, "data-url", os.Getenv("SOV_DATA_URL"),
		"data plane URL (env SOV_DATA_URL; default: the profile's, else "+factory.DefaultDataURL+")")
	pf.StringVar(&f.Profile, "profile", envOr("SOV_PROFILE", credentials.DefaultProfile),
		"credentials profile, for several accounts or platforms (env SOV_PROFILE)")
	cmd.AddGroup(
		&cobra.Group{ID: "account", Title: "Account:"},
		&cobra.Group{ID: "manage", Title: "Organizations and projects:"},
		&cobra.Group{ID: "local", Title: "Platform:"},
	)
	add := func(group string, cmds ...*cobra.Command) {
		for _, c := range cmds {
			c.GroupID = group
			cmd.AddCommand(c)
		}
	}
	add("account",
		signup.NewCmdSignup(f, nil), login.NewCmdLogin(f, nil), logout.NewCmdLogout(f, nil),
		whoami.NewCmdWhoAmI(f, nil), tokens.NewCmdTokens(f))
	add("manage", orgs.NewCmdOrgs(f), projects.NewCmdProjects(f), keys.NewCmdKeys(f), regions.NewCmdRegions(f), db.NewCmdDB(f), auth.NewCmdAuth(f), storage.NewCmdStorage(f),
		realtime.NewCmdRealtime(f))
	add("local", status.NewCmdStatus(f, nil), monitor.NewCmdMonitor(f, nil), dev.NewCmdDev(f, nil))
	usageArgs(cmd)
	return cmd
}

// usageArgs makes every command's argument errors usage errors (exit code 2).
func usageArgs(cmd *cobra.Command) {
	if args := cmd.Args; args != nil {
		cmd.Args = func(c *cobra.Command, a []string) error {
			if err := args(c, a); err != nil {
				return factory.UsageError("%v", err)
			}
			return nil
		}
	}
	for _, c := range cmd.Commands() {
		usageArgs(c)
	}
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
	return Execute(ctx, f, os.Args[1:])
}

// Execute runs `sov` with args on f, prints a failure on f.IO.ErrOut and
// returns the exit code.
func Execute(ctx context.Context, f *factory.Factory, args []string) int {
	cmd := NewCmdRoot(f)
	cmd.SetArgs(args)
	if err := cmd.ExecuteContext(ctx); err != nil {
		if strings.HasPrefix(err.Error(), "unknown command ") {
			err = factory.WithExitCode(err, factory.ExitUsage)
		}
		PrintError(f.IO.ErrOut, err)
		return factory.ExitCode(err)
	}
	return factory.ExitOK
}

// PrintError writes err for a person: the platform's own message for a
// platform error, with a hint where one helps.
func PrintError(w io.Writer, err error) {
	var e *sovereign.Error
	if !errors.As(err, &e) {
		fmt.Fprintln(w, "sov:", err)
		return
	}
	msg := err.Error()
	// Keep any context wrapped around the platform's message, without the
	// SDK's own prefix.
	msg = strings.Replace(msg, e.Error(), e.Message+" ("+e.Code.String()+")", 1)
	fmt.Fprintln(w, "sov:", msg)
	switch e.Code {
	case sovereign.CodeUnauthenticated:
		if strings.HasPrefix(e.Procedure, "/sovereign.dataplane.") {
			// The data plane authenticates the project's API key.
			fmt.Fprintln(w, "Check the project's API key (--key or SOV_KEY); `sov keys create` makes one.")
		} else {
			fmt.Fprintln(w, "Sign in again with `sov login`.")
		}
	case sovereign.CodeUnavailable:
		fmt.Fprintln(w, "Is the platform running? `sov status` checks; `sov dev` starts one on this machine.")
	}
}

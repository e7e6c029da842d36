package servercmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/internal/valkeyproc"
)

// These match internal/testenv (a test checks), which this binary does not
// import: it would bring package testing into a server.
const (
	testEnvDatabaseURL = "SOVEREIGN_TEST_DATABASE_URL"
	testEnvValkeyURL   = "SOVEREIGN_TEST_VALKEY_URL"
	testStateFile      = ".sovereign/test/services.env"
)

// newTestServicesCmd is what `make test` runs the test suite under: it starts
// a private PostgreSQL and Valkey, records them where internal/testenv finds
// them, runs the command, and stops both, whatever the command's outcome.
func newTestServicesCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:    "test-services [--dir DIR] -- COMMAND [ARG...]",
		Short:  "Run a command with private PostgreSQL and Valkey servers for the test suite",
		Hidden: true,
		Args:   cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return testServicesRun(cmd.Context(), dir, args)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", filepath.Dir(testStateFile), "directory for the servers' data and the state file")
	return cmd
}

func testServicesRun(ctx context.Context, dir string, args []string) (err error) {
	dir, err = filepath.Abs(dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var stops []func(context.Context) error
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		for i := len(stops) - 1; i >= 0; i-- {
			err = errors.Join(err, stops[i](sctx))
		}
	}()
	logger, _ := newLogger(os.Stderr, "warn")
	cluster, _, err := startDevPostgres(ctx, dir, logger)
	if err != nil {
		return err
	}
	stops = append(stops, cluster.Stop)
	srv, err := valkeyproc.Start(ctx, valkeyproc.Config{Dir: filepath.Join(dir, "valkey"), Logger: logger})
	if err != nil {
		return fmt.Errorf("start private Valkey: %w", err)
	}
	stops = append(stops, srv.Stop)

	env := fmt.Sprintf("%s=%s\n%s=%s\n", testEnvDatabaseURL, cluster.URL("postgres"), testEnvValkeyURL, srv.URL())
	state := filepath.Join(dir, filepath.Base(testStateFile))
	if err := os.WriteFile(state, []byte(env), 0o600); err != nil {
		return err
	}
	stops = append(stops, func(context.Context) error { return os.Remove(state) })

	c := exec.CommandContext(ctx, args[0], args[1:]...)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	c.Env = append(os.Environ(),
		testEnvDatabaseURL+"="+cluster.URL("postgres"),
		testEnvValkeyURL+"="+srv.URL(),
	)
	c.Cancel = func() error { return c.Process.Signal(os.Interrupt) }
	c.WaitDelay = 30 * time.Second
	if err := c.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return exitError{code: max(ee.ExitCode(), 1)}
		}
		return fmt.Errorf("run %s: %w", args[0], err)
	}
	return nil
}

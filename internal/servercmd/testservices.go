package servercmd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/controlplane"
	"github.com/sovereign-backend/sovereign/internal/minioproc"
	"github.com/sovereign-backend/sovereign/internal/pgsetup"
	"github.com/sovereign-backend/sovereign/internal/ratelimit"
	"github.com/sovereign-backend/sovereign/internal/token"
)

// These match internal/testenv (a test checks), which this binary does not
// import: it would bring package testing into a server.
const (
	testEnvDatabaseURL = "SOVEREIGN_TEST_DATABASE_URL"
	testEnvValkeyURL   = "SOVEREIGN_TEST_VALKEY_URL"
	testEnvS3URL       = "SOVEREIGN_TEST_S3_URL"
	testStateFile      = ".sovereign/test/services.env"
	// The URLs of a running platform, for tests that cannot start one in
	// process (the SDK's module has no server code).
	testEnvAPIURL  = "SOVEREIGN_TEST_API_URL"
	testEnvDataURL = "SOVEREIGN_TEST_DATA_URL"
)

// testS3Bucket is the bucket named in the S3 URL given to tests; tests
// that need isolation make buckets of their own (package blobtest does).
const testS3Bucket = "sovereign-test"

// newTestServicesCmd is what `make test` runs the test suite under: it starts
// a private PostgreSQL and Valkey, a private MinIO when its binary is
// installed (`make tools`; required when CI is true), and with --platform a
// whole platform on them, records them where tests find them, runs the
// command, and stops everything, whatever the command's outcome.
func newTestServicesCmd() *cobra.Command {
	var (
		dir      string
		platform bool
	)
	cmd := &cobra.Command{
		Use:    "test-services [--dir DIR] [--platform] -- COMMAND [ARG...]",
		Short:  "Run a command with private PostgreSQL, Valkey and MinIO servers for the test suite",
		Hidden: true,
		Args:   cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return testServicesRun(cmd.Context(), dir, platform, args)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", filepath.Dir(testStateFile), "directory for the servers' data and the state file")
	cmd.Flags().BoolVar(&platform, "platform", false, "also run a control plane and a data plane, exporting "+testEnvAPIURL+" and "+testEnvDataURL)
	return cmd
}

func testServicesRun(ctx context.Context, dir string, platform bool, args []string) (err error) {
	dir, err = filepath.Abs(dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var st stack
	defer func() { err = errors.Join(err, st.close(ctx)) }()
	logger, _ := newLogger(os.Stderr, "warn")
	srv, err := startServers(ctx, &st, serversOptions{dir: dir, requireValkey: true, logger: logger})
	if err != nil {
		return err
	}
	env := []string{testEnvDatabaseURL + "=" + srv.adminURL, testEnvValkeyURL + "=" + srv.valkeyURL}
	s3URL, err := startTestMinIO(ctx, &st, dir, logger)
	if err != nil {
		return err
	}
	if s3URL != "" {
		env = append(env, testEnvS3URL+"="+s3URL)
	}

	serveDone := make(chan error, 1)
	if platform {
		dbURL, err := pgsetup.Ensure(ctx, srv.adminURL, pgsetup.App{Role: devRole, Password: token.New(""), Database: "sovereign_platform_test"}, true)
		if err != nil {
			return err
		}
		pl, err := startPlanes(ctx, &st, planesOptions{
			databaseURL: dbURL, valkeyURL: srv.valkeyURL,
			cpAddr: "127.0.0.1:0", dpAddr: "127.0.0.1:0", regionSecret: token.New("sov_rs_"),
			dataDir: filepath.Join(dir, "files"), hf: defaultHTTPFlags(), logger: logger,
			// Every test signs up from 127.0.0.1.
			// Its own key prefix: tests share this Valkey, and a throttle
			// counter shared with a differently limited platform would
			// refuse this one's signups.
			cp: controlplane.Config{KeyPrefix: "sovereign-test-platform:", SignupPerIP: ratelimit.Limit{Rate: 10000, Per: time.Minute, Burst: 10000}},
		})
		if err != nil {
			return err
		}
		sctx, stopServing := context.WithCancel(ctx)
		go func() { serveDone <- serveAll(sctx, pl.cpl, pl.dpl) }()
		// Stops run newest first: serving ends before the planes close.
		st.push(func(context.Context) error { stopServing(); return <-serveDone })
		env = append(env, testEnvAPIURL+"="+pl.cpl.URL(), testEnvDataURL+"="+pl.dpl.URL())
	}

	state := filepath.Join(dir, filepath.Base(testStateFile))
	content := ""
	for _, kv := range env {
		content += kv + "\n"
	}
	if err := os.WriteFile(state, []byte(content), 0o600); err != nil {
		return err
	}
	st.push(func(context.Context) error { return os.Remove(state) })

	c := exec.CommandContext(ctx, args[0], args[1:]...)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	c.Env = append(os.Environ(), env...)
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

// startTestMinIO starts a private MinIO under dir/minio for the tests of the
// S3 storage backend and returns its URL (see blob.ParseS3URL). Without a
// minio binary it returns "" and the tests that need S3 skip, except when
// the environment variable CI is true: CI must run them, so there it is an
// error.
func startTestMinIO(ctx context.Context, st *stack, dir string, logger *slog.Logger) (string, error) {
	bin, err := minioproc.FindBinary()
	if err != nil {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			return "", fmt.Errorf("CI is set and MinIO is required for the S3 storage tests: %w", err)
		}
		logger.Warn("no MinIO: the S3 storage tests will skip; `make tools` installs it", "err", err.Error())
		return "", nil
	}
	srv, err := minioproc.Start(ctx, minioproc.Config{Dir: filepath.Join(dir, "minio"), Binary: bin, Logger: logger})
	if err != nil {
		return "", fmt.Errorf("start private MinIO: %w", err)
	}
	st.push(srv.Stop)
	return srv.URL(testS3Bucket), nil
}

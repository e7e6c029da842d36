// Package servercmd is the `sovereign` server binary's command tree:
// `sovereign controlplane`, `sovereign dataplane`, `sovereign dev` and the
// test-services helper that `make test` uses.
package servercmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sovereign-backend/sovereign/internal/buildinfo"
	"github.com/sovereign-backend/sovereign/internal/flagenv"
	"github.com/sovereign-backend/sovereign/internal/httpserver"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// Main runs the command line and returns the process exit code.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := NewRootCmd(os.Stdout, os.Stderr)
	root.SetArgs(os.Args[1:])
	if err := root.ExecuteContext(ctx); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintln(os.Stderr, "sovereign:", err)
			return exitUsage
		}
		var ee exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		fmt.Fprintln(os.Stderr, "sovereign:", err)
		return exitFailure
	}
	return exitOK
}

type usageError struct{ error }

// exitError carries a child's exit code through (test-services).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// NewRootCmd builds the command tree writing to out and errOut.
func NewRootCmd(out, errOut io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "sovereign",
		Short:         "Sovereign's servers: control plane, data plane, and the local platform",
		Version:       buildinfo.Version(),
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := flagenv.Apply(cmd.Flags()); err != nil {
				return usageError{err}
			}
			return nil
		},
	}
	root.SetOut(out)
	root.SetErr(errOut)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(
		newControlPlaneCmd(),
		newDataPlaneCmd(),
		newDevCmd(),
		newTestServicesCmd(),
	)
	return root
}

// httpFlags are the HTTP limits every server takes.
type httpFlags struct {
	maxBodyBytes      int64
	readHeaderTimeout time.Duration
	idleTimeout       time.Duration
	shutdownTimeout   time.Duration
	logLevel          string
}

// Request body caps: the control plane's bodies are small; the data plane's
// largest is a batch of 1,000 records (16 MiB), plus room for its envelope.
const (
	controlPlaneMaxBody = httpserver.DefaultMaxBodyBytes
	dataPlaneMaxBody    = 17 << 20
)

func (h *httpFlags) register(fs *pflag.FlagSet, maxBody int64) {
	fs.Int64Var(&h.maxBodyBytes, "max-body-bytes", maxBody, "largest request body accepted, in bytes; larger bodies get 413")
	fs.DurationVar(&h.readHeaderTimeout, "read-header-timeout", httpserver.DefaultReadHeaderTimeout, "time allowed to read a request's headers")
	fs.DurationVar(&h.idleTimeout, "idle-timeout", httpserver.DefaultIdleTimeout, "keep-alive connections idle this long are closed")
	fs.DurationVar(&h.shutdownTimeout, "shutdown-timeout", httpserver.DefaultShutdownTimeout, "on SIGINT/SIGTERM, time allowed for in-flight requests to finish")
	fs.StringVar(&h.logLevel, "log-level", "info", "log level: debug, info, warn or error")
}

// defaultHTTPFlags are the flags' defaults, for platforms started without
// a command line.
func defaultHTTPFlags() httpFlags {
	var h httpFlags
	h.register(pflag.NewFlagSet("defaults", pflag.ContinueOnError), dataPlaneMaxBody)
	return h
}

func (h *httpFlags) serverConfig(name string, logger *slog.Logger) httpserver.Config {
	return httpserver.Config{
		Name:              name,
		MaxBodyBytes:      h.maxBodyBytes,
		ReadHeaderTimeout: h.readHeaderTimeout,
		IdleTimeout:       h.idleTimeout,
		ShutdownTimeout:   h.shutdownTimeout,
		Logger:            logger,
	}
}

func (h *httpFlags) validate() error {
	if h.maxBodyBytes <= 0 {
		return usageError{fmt.Errorf("--max-body-bytes must be positive, got %d", h.maxBodyBytes)}
	}
	for name, d := range map[string]time.Duration{"read-header-timeout": h.readHeaderTimeout, "idle-timeout": h.idleTimeout, "shutdown-timeout": h.shutdownTimeout} {
		if d <= 0 {
			return usageError{fmt.Errorf("--%s must be positive, got %s", name, d.String())}
		}
	}
	return nil
}

// newLogger returns a JSON logger on w at the named level.
func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError{fmt.Errorf("--log-level: %q is not one of debug, info, warn, error", level)}
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})), nil
}

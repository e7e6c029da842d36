// Package dev is `sov dev`: the whole platform on this machine. It runs the
// `sovereign dev` server binary (kept apart so the CLI carries no server
// code), found next to `sov` or on PATH.
package dev

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/sovereign-backend/sovereign/cli/dev/mail"
	"github.com/sovereign-backend/sovereign/cli/factory"
)

// Options are the inputs of `sov dev`.
type Options struct {
	IO         *factory.IOStreams
	Executable func() (string, error)
	// Args are passed on to `sovereign dev` (e.g. --dir, --controlplane-addr).
	Args []string
}

// NewCmdDev builds the command; runF replaces the run function in tests.
func NewCmdDev(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Executable: f.Executable}
	cmd := &cobra.Command{
		Use:   "dev [flags of sovereign dev]",
		Short: "Run the whole platform locally (control plane on :7070, data plane on :7071)",
		Long: `Run the whole platform locally: the control plane on :7070 and a data plane
(region "local") on :7071. Flags are passed on to ` + "`sovereign dev`" + `.

` + "`sov dev mail`" + ` reads the local platform's mailbox.`,
		// The flags belong to `sovereign dev`; subcommands (mail) are still
		// routed by name before any flag parsing.
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Args = args
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.AddCommand(mail.NewCmdMail(f, nil))
	return cmd
}

// Run starts `sovereign dev` and waits for it; Ctrl-C reaches it directly,
// since it shares the terminal's process group.
func Run(ctx context.Context, opts *Options) error {
	bin, err := FindServer(opts.Executable)
	if err != nil {
		return err
	}
	c := exec.Command(bin, append([]string{"dev"}, opts.Args...)...)
	c.Stdin, c.Stdout, c.Stderr = opts.IO.In, opts.IO.Out, opts.IO.ErrOut
	if err := c.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	// A terminal's Ctrl-C reaches the child directly; a signal sent to sov
	// alone (ctx ends) is passed on. Either way, wait for the child to stop
	// what it started instead of leaving it behind.
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			_ = c.Process.Signal(syscall.SIGTERM)
		case <-done:
		}
	}()
	err = c.Wait()
	close(done)
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return factory.WithExitCode(fmt.Errorf("sovereign dev: %w", err), max(ee.ExitCode(), 1))
	}
	return err
}

// FindServer looks for the `sovereign` binary beside the running `sov`, then
// on PATH.
func FindServer(executable func() (string, error)) (string, error) {
	if self, err := executable(); err == nil {
		cand := filepath.Join(filepath.Dir(self), "sovereign")
		if st, err := os.Stat(cand); err == nil && !st.IsDir() {
			return cand, nil
		}
	}
	if p, err := exec.LookPath("sovereign"); err == nil {
		return p, nil
	}
	return "", errors.New("the `sovereign` server binary was not found next to sov or on PATH: build it with `make build` (it writes bin/sovereign)")
}

package childproc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
)

// Child is a started server process: done is closed once it has exited and
// been reaped (by whoever called cmd.Wait).
type Child struct {
	// Name names the server in errors and logs, e.g. "valkey".
	Name    string
	Process *os.Process
	Done    <-chan struct{}
	// Logger gets a warning when the process group cannot be killed.
	Logger *slog.Logger
}

// Exited reports whether the child has exited.
func (c Child) Exited() bool {
	select {
	case <-c.Done:
		return true
	default:
		return false
	}
}

// Stop sends sig and waits until the child has exited. If ctx ends first it
// kills the child's process group and returns an error saying so; if the
// signal cannot be sent it kills the group at once. Stopping a child that
// has exited returns nil.
func (c Child) Stop(ctx context.Context, sig os.Signal) error {
	if c.Exited() {
		return nil
	}
	if err := c.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		c.Kill()
		return fmt.Errorf("stop %s: %w", c.Name, err)
	}
	select {
	case <-c.Done:
		return nil
	case <-ctx.Done():
		c.Kill()
		return fmt.Errorf("stop %s: killed it after %w", c.Name, context.Cause(ctx))
	}
}

// Kill ends the child and every process of its group at once (the process
// alone where groups are not supported) and waits for it to be reaped.
func (c Child) Kill() {
	if err := KillGroup(c.Process.Pid); err != nil {
		c.Logger.Warn("kill "+c.Name, "pid", c.Process.Pid, "err", err)
		_ = c.Process.Kill()
	}
	<-c.Done
}

package childproc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
)

// Proc is a server process started by Start and reaped in the background.
// Its methods are safe for concurrent use.
type Proc struct {
	name   string
	cmd    *exec.Cmd
	logger *slog.Logger
	attrs  []any
	done   chan struct{} // closed when cmd has exited
	err    error         // cmd.Wait's result; read only after done is closed
	// stopping is set by Stop and Kill, so that an exit they caused is not
	// logged as a surprise.
	stopping atomic.Bool
}

// Start starts cmd (set its SysProcAttr with SysProcAttr first) and reaps
// it in the background. name names the server in errors and logs
// ("valkey"); attrs go with its log lines (an exit that Stop or Kill did
// not cause is a warning).
func Start(name string, cmd *exec.Cmd, logger *slog.Logger, attrs ...any) (*Proc, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Proc{name: name, cmd: cmd, logger: logger, attrs: attrs, done: make(chan struct{})}
	go p.wait()
	return p, nil
}

func (p *Proc) wait() {
	p.err = p.cmd.Wait()
	if !p.stopping.Load() {
		p.logger.Warn(p.name+" exited", append(p.attrs, "pid", p.PID(), "err", p.err)...)
	}
	close(p.done)
}

// PID returns the process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Done returns a channel that is closed when the process has exited and
// been reaped, whether through Stop or otherwise.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err returns cmd.Wait's result once Done is closed.
func (p *Proc) Err() error {
	<-p.done
	return p.err
}

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends sig and waits until the process has exited. If ctx ends first
// it kills the process group and returns an error saying so; if the
// signal cannot be sent it kills the group at once. Stopping a process
// that has exited returns nil.
func (p *Proc) Stop(ctx context.Context, sig os.Signal) error {
	p.stopping.Store(true)
	if p.Exited() {
		return nil
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.Kill()
		return fmt.Errorf("stop %s: %w", p.name, err)
	}
	select {
	case <-p.done:
		p.logger.Info(p.name+" stopped", append(p.attrs, "pid", p.PID())...)
		return nil
	case <-ctx.Done():
		p.Kill()
		return fmt.Errorf("stop %s: killed it after %w", p.name, context.Cause(ctx))
	}
}

// Kill ends the process and every process of its group at once (the
// process alone where groups are not supported) and waits for it to be
// reaped.
func (p *Proc) Kill() {
	p.stopping.Store(true)
	if p.Exited() {
		return
	}
	if err := KillGroup(p.PID()); err != nil {
		p.logger.Warn("kill "+p.name, "pid", p.PID(), "err", err)
		_ = p.cmd.Process.Kill()
	}
	<-p.done
}

// LogTail returns the end of the log at path written since offset: at most
// about 4 KiB and, when maxLines is above 0, at most maxLines lines. A log
// that cannot be read is described instead.
func LogTail(path string, offset int64, maxLines int) string {
	f, err := os.Open(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return "(no log: " + err.Error() + ")"
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	return Tail(string(b), maxLines)
}

// Tail returns the end of s: at most about 4 KiB, cut at a line start, and
// when maxLines is above 0 at most maxLines lines.
func Tail(s string, maxLines int) string {
	const maxBytes = 4096
	s = strings.TrimRight(s, "\n")
	if len(s) > maxBytes {
		s = s[len(s)-maxBytes:]
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[i+1:]
		}
	}
	if maxLines <= 0 {
		return s
	}
	lines := strings.Split(s, "\n")
	if len(lines) > maxLines {
		lines = lines[len(lines)-maxLines:]
	}
	return strings.Join(lines, "\n")
}

// WithExit returns a copy of ctx that also ends, with the cause "<name>
// exited", when the process exits: a readiness probe in progress then
// stops at once, even when whatever holds the port accepts and never
// answers. Call the cancel function when done.
func (p *Proc) WithExit(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-p.done:
			cancel(errors.New(p.name + " exited"))
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancel(nil) }
}

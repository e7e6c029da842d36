// Package valkeyproc runs a private valkey-server (or redis-server) as a
// child process, for `sovereign dev` and for tests that have no configured
// Valkey.
//
// The server listens on 127.0.0.1 only and keeps nothing on disk (no RDB
// snapshots, no AOF): Sovereign uses Valkey for caches, pub/sub fan-out and
// rate limits, all of which may be lost. Its directory holds:
//
//	valkey.conf  the configuration, rewritten on every start; the port in it is reused when free
//	valkey.log   the server's log (and its stderr), appended to on every start
//	valkey.pid   the server's pid while it runs
package valkeyproc

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sovereign-backend/sovereign/internal/childproc"
	"github.com/sovereign-backend/sovereign/internal/freeport"
)

// Files that valkeyproc keeps in Config.Dir.
const (
	confFile = "valkey.conf"
	logFile  = "valkey.log"
	pidFile  = "valkey.pid"
)

// Config says where and how Start runs the server.
type Config struct {
	// Dir is the server's working directory, created when missing. It holds
	// the configuration file, the log and the pid file. Required.
	Dir string
	// Binary is the path (or name on PATH) of valkey-server or redis-server
	// (Redis 7 or later). "" means FindBinary.
	Binary string
	// Port is the TCP port on 127.0.0.1. 0 means the port of the previous
	// start on Dir when it is free, else one the operating system assigns.
	Port int
	// Logger receives lifecycle messages (not the server log, which goes to
	// Dir/valkey.log). Default slog.Default().
	Logger *slog.Logger
	// StartTimeout bounds how long Start waits for the server to answer
	// PING. Default 30s.
	StartTimeout time.Duration
}

// Server is a running server process started by Start. Its methods are safe
// for concurrent use.
type Server struct {
	confPath string
	port     int

	proc *childproc.Proc
}

// Start writes the configuration file, starts the server and returns once it
// answers PING. The server keeps running after ctx ends; Stop ends it. If this
// process dies, the kernel sends the server SIGTERM (on Linux).
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Dir == "" {
		return nil, errors.New("valkeyproc: Config.Dir is required")
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("valkeyproc: Config.Port %d is outside 0-65535", cfg.Port)
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("valkeyproc: directory: %w", err)
	}
	cfg.Dir = dir
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	cfg.StartTimeout = cmp.Or(cfg.StartTimeout, 30*time.Second)
	if cfg.Binary == "" {
		if cfg.Binary, err = FindBinary(); err != nil {
			return nil, fmt.Errorf("valkeyproc: %w", err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("valkeyproc: %w", err)
	}

	ctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()

	port := cfg.Port
	if port == 0 {
		if port, err = freeport.Pick(previousPort(filepath.Join(dir, confFile))); err != nil {
			return nil, fmt.Errorf("valkeyproc: %w", err)
		}
	}
	// A port that freeport found free can be taken before the server binds
	// it. When the caller did not insist on a port, try a few others.
	const attempts = 3
	for attempt := 1; ; attempt++ {
		s, err := launch(ctx, cfg, port)
		if err == nil {
			return s, nil
		}
		if cfg.Port != 0 || attempt == attempts || !errors.Is(err, errPortInUse) {
			return nil, fmt.Errorf("valkeyproc: %w", err)
		}
		cfg.Logger.Info("valkey port taken, trying another", "dir", dir, "port", port)
		if port, err = freeport.Pick(0); err != nil {
			return nil, fmt.Errorf("valkeyproc: %w", err)
		}
	}
}

// FindBinary returns the path of valkey-server on PATH, else of
// redis-server.
func FindBinary() (string, error) {
	for _, name := range []string{"valkey-server", "redis-server"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("neither valkey-server nor redis-server is on PATH; install one, e.g. apt-get install -y redis-server")
}

// URL returns the server's address as a URL: redis://127.0.0.1:port.
func (s *Server) URL() string {
	return "redis://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// Port returns the TCP port the server listens on, on 127.0.0.1.
func (s *Server) Port() int { return s.port }

// PID returns the server's process id.
func (s *Server) PID() int { return s.proc.PID() }

// ConfigPath returns the configuration file the server was started with;
// `valkey-server <path>` (or `redis-server <path>`) starts it again by hand.
func (s *Server) ConfigPath() string { return s.confPath }

// Wait returns a channel that is closed when the server process has exited,
// whether through Stop or otherwise.
func (s *Server) Wait() <-chan struct{} { return s.proc.Done() }

// Stop asks the server to shut down (SIGTERM) and waits until it has exited.
// If ctx ends first, it kills the server with SIGKILL and returns an error
// saying so. Stop on a stopped server returns nil.
func (s *Server) Stop(ctx context.Context) error { return s.proc.Stop(ctx, syscall.SIGTERM) }

// errPortInUse marks a start that failed because the port was taken.
var errPortInUse = errors.New("in use")

// launch writes the configuration for port, starts the server and waits
// until it answers. On failure the process is gone when launch returns.
func launch(ctx context.Context, cfg Config, port int) (*Server, error) {
	confPath := filepath.Join(cfg.Dir, confFile)
	logPath := filepath.Join(cfg.Dir, logFile)
	if err := os.WriteFile(confPath, configFile(cfg.Dir, port), 0o644); err != nil {
		return nil, fmt.Errorf("write config: %w", err)
	}
	rotateLog(logPath, cfg.Logger)
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("server log: %w", err)
	}
	defer f.Close() // the child has its own descriptor once started
	logStart, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, fmt.Errorf("server log: %w", err)
	}

	cmd := exec.Command(cfg.Binary, confPath)
	cmd.Dir = cfg.Dir
	// The server logs to its logfile; errors before it opens that (a bad
	// config) go to stderr, so both end up in the same file.
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.SysProcAttr = childproc.SysProcAttr(syscall.SIGTERM)
	proc, err := childproc.Start("valkey", cmd, cfg.Logger, "config", confPath, "log", logPath)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", cfg.Binary, err)
	}
	s := &Server{confPath: confPath, port: port, proc: proc}

	if err := s.waitReady(ctx); err != nil {
		proc.Kill()
		tail := childproc.LogTail(logPath, logStart, 0)
		if errors.Is(err, errPortInUse) || strings.Contains(tail, "Address already in use") {
			err = fmt.Errorf("port %d %w: %w", port, errPortInUse, err)
		}
		return nil, fmt.Errorf("%w; server log %s ends:\n%s", err, logPath, tail)
	}
	cfg.Logger.Info("valkey ready", "binary", cfg.Binary, "config", confPath, "port", port, "pid", s.PID())
	return s, nil
}

// waitReady polls the server until it answers PING, the process exits, or
// ctx ends.
func (s *Server) waitReady(ctx context.Context) error {
	// An exit must also end an attempt in progress: when the server failed
	// to bind, whatever holds the port may accept and never answer.
	ctx, cancel := s.proc.WithExit(ctx)
	defer cancel()

	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	delay := 5 * time.Millisecond
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for {
		err := ping(ctx, addr, s.PID())
		if err == nil {
			return nil
		}
		if errors.Is(err, errPortInUse) {
			return err
		}
		timer.Reset(delay)
		select {
		case <-s.proc.Done():
			return fmt.Errorf("valkey exited during start: %v", s.proc.Err())
		case <-ctx.Done():
			if s.proc.Exited() {
				return fmt.Errorf("valkey exited during start: %v", s.proc.Err())
			}
			return fmt.Errorf("valkey not ready: %w (last attempt: %v)", context.Cause(ctx), err)
		case <-timer.C:
		}
		delay = min(2*delay, 250*time.Millisecond)
	}
}

// ping sends PING to addr and expects +PONG, then checks with INFO that the
// server answering is process pid and not another one that holds the port.
func ping(ctx context.Context, addr string, pid int) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()

	r := bufio.NewReader(conn)
	if _, err := io.WriteString(conn, "*1\r\n$4\r\nPING\r\n"); err != nil {
		return err
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}

	if _, err := io.WriteString(conn, "*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n"); err != nil {
		return err
	}
	info, err := readBulk(r)
	if err != nil {
		return fmt.Errorf("INFO server: %w", err)
	}
	m := processID.FindStringSubmatch(info)
	if m == nil {
		return errors.New("INFO server: no process_id")
	}
	if m[1] != strconv.Itoa(pid) {
		return fmt.Errorf("%w: %s answers for another server (pid %s)", errPortInUse, addr, m[1])
	}
	return nil
}

var processID = regexp.MustCompile(`(?m)^process_id:(\d+)\r?$`)

// readBulk reads one RESP bulk string reply.
func readBulk(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(line, "$") {
		return "", fmt.Errorf("answered %q", strings.TrimSpace(line))
	}
	n, err := strconv.Atoi(strings.TrimSpace(line[1:]))
	if err != nil || n < 0 || n > 1<<20 {
		return "", fmt.Errorf("bad bulk length %q", strings.TrimSpace(line))
	}
	buf := make([]byte, n+2) // and the trailing \r\n
	if _, err := io.ReadFull(r, buf); err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// configFile returns the configuration for a server in dir on port.
func configFile(dir string, port int) []byte {
	var b strings.Builder
	b.WriteString("# Written by sovereign (internal/valkeyproc) at every start; edits are lost.\n")
	b.WriteString("# Start by hand with: valkey-server <this file> (or redis-server <this file>).\n")
	fmt.Fprintf(&b, "bind 127.0.0.1\n")
	fmt.Fprintf(&b, "port %d\n", port)
	fmt.Fprintf(&b, "protected-mode yes\n")
	fmt.Fprintf(&b, "daemonize no\n")
	fmt.Fprintf(&b, "save \"\"\n")
	fmt.Fprintf(&b, "appendonly no\n")
	fmt.Fprintf(&b, "dir %s\n", quote(dir))
	fmt.Fprintf(&b, "logfile %s\n", quote(filepath.Join(dir, logFile)))
	fmt.Fprintf(&b, "pidfile %s\n", quote(filepath.Join(dir, pidFile)))
	return []byte(b.String())
}

// quote quotes s for a valkey.conf argument: double quotes, with \\, \" and
// \xHH escapes, as the server's argument splitter reads them.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' || c == '"':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, "\\x%02x", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

var portLine = regexp.MustCompile(`(?m)^port (\d+)\s*$`)

// previousPort returns the port in an existing configuration file, or 0.
func previousPort(confPath string) int {
	b, err := os.ReadFile(confPath)
	if err != nil {
		return 0
	}
	m := portLine.FindSubmatch(b)
	if m == nil {
		return 0
	}
	port, _ := strconv.Atoi(string(m[1]))
	return port
}

// rotateLog moves a log of more than 10 MiB to path.1 (replacing an older
// one), so that a long-lived dev server keeps at most about 20 MiB of log.
func rotateLog(path string, logger *slog.Logger) {
	const maxSize = 10 << 20 // bytes
	if fi, err := os.Stat(path); err == nil && fi.Size() > maxSize {
		if err := os.Rename(path, path+".1"); err != nil {
			logger.Warn("rotate valkey log", "path", path, "err", err)
		}
	}
}

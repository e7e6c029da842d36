// Package pgproc runs a private PostgreSQL cluster as a child process, made
// from the system's PostgreSQL binaries. `sovereign dev` keeps its data in
// one; the test harness starts one when no server is configured.
//
// The server listens on 127.0.0.1 only, with no Unix socket, and accepts one
// superuser with a random password (SCRAM). It runs with durable settings
// (fsync stays on): a dev box keeps what it acknowledged.
//
// Besides PostgreSQL's own files, the data directory holds:
//
//	sovereign-superuser.json  superuser name and password (mode 0600), written once, with the cluster
//	sovereign-port            port of the last start, reused when it is free
//	log/postgres.log          the server's log (its stderr), appended to on every start;
//	                          moved to log/postgres.log.1 at a start when over 10 MiB
//
// PostgreSQL refuses to run as root. When this process is root, initdb and
// postgres run as the `postgres` system user (or `nobody` when there is none),
// or, for an existing cluster, as the owner of its data directory.
package pgproc

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sovereign-backend/sovereign/internal/freeport"

	"github.com/sovereign-backend/sovereign/internal/childproc"
)

// Files that pgproc keeps in the data directory.
const (
	superuserFile = "sovereign-superuser.json"
	portFile      = "sovereign-port"
	logFile       = "log/postgres.log"
)

// ErrDirNotTraversable is wrapped by the error Start returns when this
// process is root and the unprivileged user that PostgreSQL must run as cannot
// reach Config.Dir, because a directory above it does not let that user in.
// Callers may fall back to another Dir (for example one under os.TempDir()).
var ErrDirNotTraversable = errors.New("data directory not reachable by the PostgreSQL user")

// Config says where and how Start runs the cluster.
type Config struct {
	// Dir is the cluster's data directory. When it holds no PG_VERSION file it
	// must be missing or empty, and Start creates a cluster there with initdb.
	// Required.
	Dir string
	// BinDir is the directory holding the initdb and postgres binaries. ""
	// means FindBinDir, except that for an existing cluster the installed
	// binaries of the cluster's major version are preferred.
	BinDir string
	// Port is the TCP port on 127.0.0.1. 0 means the port of the previous
	// start on Dir when it is free, else one the operating system assigns.
	Port int
	// User is the superuser's name. It is fixed when the cluster is created;
	// starting an existing cluster with another name is an error. Default
	// "sovereign".
	User string
	// Logger receives lifecycle messages (not the server log, which goes to
	// Dir/log/postgres.log). Default slog.Default().
	Logger *slog.Logger
	// StartTimeout bounds the whole of Start: initdb on the first start and
	// the wait until the server answers queries. Default 60s.
	StartTimeout time.Duration
}

// Cluster is a running postgres process started by Start. Its methods are
// safe for concurrent use.
type Cluster struct {
	user     string
	password string
	port     int

	proc *childproc.Proc
}

// superuser is the content of the superuserFile.
type superuser struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// Start starts a PostgreSQL server on cfg.Dir, creating the cluster first
// when the directory holds none, and returns once the server answers
// queries. The server keeps running after ctx ends; Stop ends it. If this
// process dies, the kernel sends the server SIGINT (on Linux), so it shuts
// down rather than outliving its owner.
//
// A postmaster.pid left by a killed run does not prevent a start; a live
// server on the same directory does.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	if cfg.Dir == "" {
		return nil, errors.New("pgproc: Config.Dir is required")
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("pgproc: Config.Port %d is outside 0-65535", cfg.Port)
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("pgproc: data directory: %w", err)
	}
	cfg.Dir = dir
	cfg.User = cmp.Or(cfg.User, "sovereign")
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	cfg.StartTimeout = cmp.Or(cfg.StartTimeout, 60*time.Second)

	ctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()

	version, err := clusterVersion(dir)
	if err != nil {
		return nil, fmt.Errorf("pgproc: %w", err)
	}
	if cfg.BinDir == "" {
		if cfg.BinDir, err = findBinDir(version); err != nil {
			return nil, fmt.Errorf("pgproc: %w", err)
		}
	}
	if !hasBinaries(cfg.BinDir) {
		return nil, fmt.Errorf("pgproc: %s holds no initdb and postgres binaries", cfg.BinDir)
	}
	if version == "" {
		// Make the parent now, so that it exists for the traversal check.
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return nil, fmt.Errorf("pgproc: %w", err)
		}
	}
	acct, err := runAs(dir, version != "")
	if err != nil {
		return nil, fmt.Errorf("pgproc: %w", err)
	}
	if version == "" {
		if err := initCluster(ctx, cfg, acct); err != nil {
			return nil, fmt.Errorf("pgproc: create cluster in %s: %w", dir, err)
		}
	}
	su, err := readSuperuser(dir)
	if err != nil {
		return nil, fmt.Errorf("pgproc: %w", err)
	}
	if su.User != cfg.User {
		return nil, fmt.Errorf("pgproc: the cluster in %s was created with superuser %q, not %q", dir, su.User, cfg.User)
	}
	if err := clearStalePIDFile(dir); err != nil {
		return nil, fmt.Errorf("pgproc: %w", err)
	}

	port := cfg.Port
	if port == 0 {
		if port, err = freeport.Pick(readPort(dir)); err != nil {
			return nil, fmt.Errorf("pgproc: %w", err)
		}
	}
	// A port that freeport found free can be taken before postgres binds it.
	// When the caller did not insist on a port, try a few others.
	const attempts = 3
	for attempt := 1; ; attempt++ {
		c, err := launch(ctx, cfg, acct, su, port)
		if err == nil {
			writePort(dir, port, acct, cfg.Logger)
			return c, nil
		}
		if cfg.Port != 0 || attempt == attempts || !errors.Is(err, errPortInUse) {
			return nil, fmt.Errorf("pgproc: %w", err)
		}
		cfg.Logger.Info("postgres port taken, trying another", "dir", dir, "port", port)
		if port, err = freeport.Pick(0); err != nil {
			return nil, fmt.Errorf("pgproc: %w", err)
		}
	}
}

// URL returns a connection URL for database as the superuser, for example
// postgres://sovereign:secret@127.0.0.1:54321/app?sslmode=disable. An empty
// database means "postgres", which every cluster has.
func (c *Cluster) URL(database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(c.user, c.password),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		Path:     "/" + cmp.Or(database, "postgres"),
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Port returns the TCP port the server listens on, on 127.0.0.1.
func (c *Cluster) Port() int { return c.port }

// PID returns the process id of the postmaster.
func (c *Cluster) PID() int { return c.proc.PID() }

// Wait returns a channel that is closed when the postgres process has exited,
// whether through Stop or otherwise.
func (c *Cluster) Wait() <-chan struct{} { return c.proc.Done() }

// Stop shuts the server down with a fast shutdown (SIGINT: open sessions are
// ended, work is checkpointed) and waits until the process has exited. If ctx
// ends first, it kills the server and its backends with SIGKILL (the next
// start then runs crash recovery) and returns an error saying so. Stop on a
// stopped cluster returns nil.
func (c *Cluster) Stop(ctx context.Context) error { return c.proc.Stop(ctx, os.Interrupt) }

// errPortInUse marks a start that failed because the port was taken.
var errPortInUse = errors.New("in use")

// launch starts postgres on port and waits until it answers queries. On
// failure the process is gone when launch returns.
func launch(ctx context.Context, cfg Config, acct *account, su superuser, port int) (*Cluster, error) {
	logPath := filepath.Join(cfg.Dir, logFile)
	if err := os.MkdirAll(filepath.Dir(logPath), 0o700); err != nil {
		return nil, fmt.Errorf("server log: %w", err)
	}
	if err := chown(filepath.Dir(logPath), acct); err != nil {
		return nil, fmt.Errorf("server log: %w", err)
	}
	rotateLog(logPath, cfg.Logger)
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("server log: %w", err)
	}
	defer f.Close() // the child has its own descriptor once started
	if err := chown(logPath, acct); err != nil {
		return nil, fmt.Errorf("server log: %w", err)
	}
	logStart, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, fmt.Errorf("server log: %w", err)
	}

	cmd := exec.Command(filepath.Join(cfg.BinDir, "postgres"),
		"-D", cfg.Dir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "port="+strconv.Itoa(port),
		"-c", "unix_socket_directories=",
		"-c", "logging_collector=off",
		"-c", "max_connections=200",
	)
	cmd.Dir = cfg.Dir
	cmd.Stdout = f
	cmd.Stderr = f
	// Fast shutdown when we die: SIGTERM would wait for every session to end.
	cmd.SysProcAttr = sysProcAttr(acct, syscall.SIGINT)
	proc, err := childproc.Start("postgres", cmd, cfg.Logger, "dir", cfg.Dir, "log", logPath)
	if err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	c := &Cluster{user: su.User, password: su.Password, port: port, proc: proc}

	if err := c.waitReady(ctx); err != nil {
		proc.Kill()
		tail := childproc.LogTail(logPath, logStart, logTailLines)
		if strings.Contains(tail, "could not create any TCP/IP sockets") || strings.Contains(tail, "Address already in use") {
			err = fmt.Errorf("port %d %w: %w", port, errPortInUse, err)
		}
		return nil, fmt.Errorf("%w; server log %s ends:\n%s", err, logPath, tail)
	}
	cfg.Logger.Info("postgres ready", "dir", cfg.Dir, "port", port, "pid", c.PID(), "log", logPath)
	return c, nil
}

// waitReady polls the server until `SELECT 1` works, the process exits, a
// login fails for good, or ctx ends.
func (c *Cluster) waitReady(ctx context.Context) error {
	// An exit must also end an attempt in progress: while postgres fails to
	// bind, whatever holds the port may accept the connection and never answer.
	ctx, cancel := c.proc.WithExit(ctx)
	defer cancel()

	connURL := c.URL("postgres")
	delay := 10 * time.Millisecond
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for {
		err := ping(ctx, connURL)
		if err == nil {
			return nil
		}
		if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && (pgErr.Code == "28P01" || pgErr.Code == "28000") {
			// Wrong password or unknown role: waiting will not help.
			return fmt.Errorf("log in to postgres: %w", err)
		}
		timer.Reset(delay)
		select {
		case <-c.proc.Done():
			return fmt.Errorf("postgres exited during start: %v", c.proc.Err())
		case <-ctx.Done():
			if c.proc.Exited() {
				return fmt.Errorf("postgres exited during start: %v", c.proc.Err())
			}
			return fmt.Errorf("postgres not ready: %w (last attempt: %v)", context.Cause(ctx), err)
		case <-timer.C:
		}
		delay = min(2*delay, 500*time.Millisecond)
	}
}

// ping connects to connURL and runs SELECT 1.
func ping(ctx context.Context, connURL string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, connURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, "SELECT 1")
	return err
}

// initCluster runs initdb for cfg.Dir. It builds the cluster in a staging
// directory beside Dir and renames it into place when complete, so an
// interrupted initdb never leaves Dir half made.
func initCluster(ctx context.Context, cfg Config, acct *account) error {
	dir := cfg.Dir
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if len(entries) > 0 {
		return fmt.Errorf("%s is not empty but holds no PostgreSQL cluster (no PG_VERSION); use an empty or new directory", dir)
	}

	staging := filepath.Join(filepath.Dir(dir), "."+filepath.Base(dir)+".initdb")
	if err := os.RemoveAll(staging); err != nil { // left by an interrupted start
		return err
	}
	if err := os.Mkdir(staging, 0o700); err != nil {
		return err
	}
	defer os.RemoveAll(staging)
	if err := chown(staging, acct); err != nil {
		return err
	}

	su := superuser{User: cfg.User, Password: rand.Text()}
	pwfile := filepath.Join(staging, "pwfile")
	if err := writeFile(pwfile, []byte(su.Password+"\n"), acct); err != nil {
		return err
	}
	data := filepath.Join(staging, "data")
	cmd := exec.CommandContext(ctx, filepath.Join(cfg.BinDir, "initdb"),
		"-D", data,
		"-U", su.User,
		"--auth=scram-sha-256",
		"--pwfile="+pwfile,
		"--encoding=UTF8",
		"--locale=C",
	)
	cmd.Dir = staging
	cmd.SysProcAttr = sysProcAttr(acct, syscall.SIGTERM)
	// initdb runs postgres in bootstrap mode; a timeout ends both.
	cmd.Cancel = func() error { return childproc.KillGroup(cmd.Process.Pid) }
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	cfg.Logger.Info("creating PostgreSQL cluster", "dir", dir, "initdb", cmd.Path, "user", su.User)
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", err, context.Cause(ctx))
		}
		return fmt.Errorf("initdb: %w; its output ends:\n%s", err, childproc.Tail(out.String(), logTailLines))
	}

	js, err := json.Marshal(su)
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(data, superuserFile), append(js, '\n'), acct); err != nil {
		return err
	}
	// dir, if it exists, is an empty directory (checked above): replace it.
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("move cluster into place: %w", err)
	}
	if err := os.Rename(data, dir); err != nil {
		return fmt.Errorf("move cluster into place: %w", err)
	}
	return nil
}

// clusterVersion returns the major version in dir/PG_VERSION, or "" when dir
// holds no cluster.
func clusterVersion(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "PG_VERSION"))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read cluster version: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

func readSuperuser(dir string) (superuser, error) {
	var su superuser
	b, err := os.ReadFile(filepath.Join(dir, superuserFile))
	if errors.Is(err, os.ErrNotExist) {
		return su, fmt.Errorf("%s holds a PostgreSQL cluster that pgproc did not create (no %s); use another directory", dir, superuserFile)
	}
	if err != nil {
		return su, fmt.Errorf("read superuser: %w", err)
	}
	if err := json.Unmarshal(b, &su); err != nil || su.User == "" || su.Password == "" {
		return su, fmt.Errorf("read superuser: %s is damaged", filepath.Join(dir, superuserFile))
	}
	return su, nil
}

// readPort returns the port of the previous start on dir, or 0.
func readPort(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, portFile))
	if err != nil {
		return 0
	}
	port, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0
	}
	return port
}

// writePort remembers port for the next start. Failing to is not fatal: the
// next start then picks another port.
func writePort(dir string, port int, acct *account, logger *slog.Logger) {
	if err := writeFile(filepath.Join(dir, portFile), []byte(strconv.Itoa(port)+"\n"), acct); err != nil {
		logger.Warn("remember postgres port", "dir", dir, "err", err)
	}
}

// writeFile writes data to a new or truncated file of mode 0600 owned by acct.
func writeFile(path string, data []byte, acct *account) error {
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return err
	}
	return chown(path, acct)
}

// clearStalePIDFile returns an error when a live postgres owns dir, and
// removes a postmaster.pid whose process is gone or is not that postgres (its
// pid reused after a crash or a reboot; postgres itself would refuse to start
// then).
func clearStalePIDFile(dir string) error {
	pidPath := filepath.Join(dir, "postmaster.pid")
	b, err := os.ReadFile(pidPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check for a running server: %w", err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err == nil && pid > 0 && postgresRunning(pid, dir) {
		return fmt.Errorf("a PostgreSQL server is already running on %s (pid %d)", dir, pid)
	}
	if err := os.Remove(pidPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale postmaster.pid: %w", err)
	}
	return nil
}

// rotateLog moves a log of more than 10 MiB to path.1 (replacing an older
// one), so that a long-lived dev cluster keeps at most about 20 MiB of log.
func rotateLog(path string, logger *slog.Logger) {
	const maxSize = 10 << 20 // bytes
	if fi, err := os.Stat(path); err == nil && fi.Size() > maxSize {
		if err := os.Rename(path, path+".1"); err != nil {
			logger.Warn("rotate postgres log", "path", path, "err", err)
		}
	}
}

// logTailLines is the most lines of a log or of initdb's output an error
// quotes.
const logTailLines = 20

// FindBinDir returns the directory holding the system's PostgreSQL server
// binaries (initdb and postgres): the one of initdb on PATH, else the newest
// /usr/lib/postgresql/*/bin or /usr/pgsql-*/bin, else /usr/local/pgsql/bin.
func FindBinDir() (string, error) {
	return findBinDir("")
}

// findBinDir is FindBinDir preferring the binaries of major version want
// (such as "15") when they are installed in a versioned directory.
func findBinDir(want string) (string, error) {
	if want != "" && !strings.ContainsAny(want, `/\`) {
		for _, d := range []string{"/usr/lib/postgresql/" + want + "/bin", "/usr/pgsql-" + want + "/bin"} {
			if hasBinaries(d) {
				return d, nil
			}
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if resolved, err := filepath.EvalSymlinks(p); err == nil {
			p = resolved
		}
		if d := filepath.Dir(p); hasBinaries(d) {
			return d, nil
		}
	}
	var versioned []string
	for _, pattern := range []string{"/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin"} {
		m, _ := filepath.Glob(pattern)
		versioned = append(versioned, m...)
	}
	slices.SortFunc(versioned, func(a, b string) int {
		return slices.Compare(dirVersion(b), dirVersion(a)) // newest first
	})
	for _, d := range append(versioned, "/usr/local/pgsql/bin") {
		if hasBinaries(d) {
			return d, nil
		}
	}
	return "", errors.New("no PostgreSQL server binaries (initdb, postgres) on PATH or in /usr/lib/postgresql/*/bin, /usr/pgsql-*/bin, /usr/local/pgsql/bin; install them, e.g. apt-get install -y postgresql")
}

// hasBinaries reports whether dir holds executable initdb and postgres.
func hasBinaries(dir string) bool {
	for _, name := range []string{"initdb", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// dirVersion extracts the numeric version from /usr/lib/postgresql/15/bin or
// /usr/pgsql-9.6/bin: [15] or [9 6]. Parts that are not numbers count as 0.
func dirVersion(binDir string) []int {
	v := filepath.Base(filepath.Dir(binDir))
	v = strings.TrimPrefix(v, "pgsql-")
	var out []int
	for part := range strings.SplitSeq(v, ".") {
		n, _ := strconv.Atoi(part)
		out = append(out, n)
	}
	return out
}

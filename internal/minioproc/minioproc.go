// Package minioproc runs a private MinIO server as a child process, so that
// the test suite (`make test`, through `sovereign test-services`) exercises
// the S3 storage backend against a real S3-compatible store.
//
// MinIO is a separately installed test tool (`make tools` puts it in
// bin/tools); Sovereign never links it. The server listens on 127.0.0.1
// only, with its web console off. Its directory holds:
//
//	data/                     the objects
//	sovereign-minio.json      root user and password (mode 0600), made at the first start and reused
//	minio.log                 the server's output, appended to on every start
package minioproc

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/sovereign-backend/sovereign/internal/childproc"
	"github.com/sovereign-backend/sovereign/internal/freeport"
)

// Files that minioproc keeps in Config.Dir.
const (
	dataDir   = "data"
	credsFile = "sovereign-minio.json"
	logFile   = "minio.log"
)

// Config says where and how Start runs the server.
type Config struct {
	// Dir holds the server's data, credentials and log; created when
	// missing. Required.
	Dir string
	// Binary is the path (or name on PATH) of the minio binary. "" means
	// FindBinary.
	Binary string
	// Port is the S3 API's TCP port on 127.0.0.1. 0 means one the
	// operating system assigns.
	Port int
	// Logger receives lifecycle messages (not the server's output, which
	// goes to Dir/minio.log). Default slog.Default().
	Logger *slog.Logger
	// StartTimeout bounds how long Start waits for the server to answer.
	// Default 60s (MinIO formats its drive at the first start).
	StartTimeout time.Duration
}

// Server is a running MinIO process started by Start. Its methods are safe
// for concurrent use.
type Server struct {
	user, password string
	port           int

	proc *childproc.Proc
}

// credentialsJSON is the content of credsFile.
type credentialsJSON struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// FindBinary returns the path of the minio binary: bin/tools/minio under
// the workspace root (the directory holding go.work, looked up from the
// working directory and from this executable's directory), else minio on
// PATH.
func FindBinary() (string, error) {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		starts = append(starts, filepath.Dir(exe))
	}
	for _, dir := range starts {
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
				p := filepath.Join(dir, "bin", "tools", "minio")
				if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
					return p, nil
				}
				break
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p, nil
	}
	return "", errors.New("no minio binary in bin/tools or on PATH; run `make tools` to install it")
}

// Start starts MinIO on cfg.Dir and returns once it answers both its
// liveness check (/minio/health/live) and an authenticated request with its
// root credentials. The server keeps running after ctx ends; Stop ends it.
// If this process dies, the kernel sends the server SIGTERM (on Linux).
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Dir == "" {
		return nil, errors.New("minioproc: Config.Dir is required")
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("minioproc: Config.Port %d is outside 0-65535", cfg.Port)
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("minioproc: directory: %w", err)
	}
	cfg.Dir = dir
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	cfg.StartTimeout = cmp.Or(cfg.StartTimeout, 60*time.Second)
	if cfg.Binary == "" {
		if cfg.Binary, err = FindBinary(); err != nil {
			return nil, fmt.Errorf("minioproc: %w", err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, dataDir), 0o700); err != nil {
		return nil, fmt.Errorf("minioproc: %w", err)
	}
	creds, err := loadCredentials(dir)
	if err != nil {
		return nil, fmt.Errorf("minioproc: %w", err)
	}

	ctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()
	// A port found free can be taken before the server binds it. When the
	// caller did not insist on a port, try a few others.
	const attempts = 3
	for attempt := 1; ; attempt++ {
		port := cfg.Port
		if port == 0 {
			if port, err = freeport.Pick(0); err != nil {
				return nil, fmt.Errorf("minioproc: %w", err)
			}
		}
		s, err := launch(ctx, cfg, creds, port)
		if err == nil {
			return s, nil
		}
		if cfg.Port != 0 || attempt == attempts || !errors.Is(err, errPortInUse) {
			return nil, fmt.Errorf("minioproc: %w", err)
		}
		cfg.Logger.Info("minio port taken, trying another", "dir", dir, "port", port)
	}
}

// loadCredentials reads the root credentials of dir, making them at the
// first start: MinIO keeps its configuration under the root credentials, so
// they must not change between starts on the same data.
func loadCredentials(dir string) (credentialsJSON, error) {
	path := filepath.Join(dir, credsFile)
	b, err := os.ReadFile(path)
	if err == nil {
		var c credentialsJSON
		if err := json.Unmarshal(b, &c); err != nil || c.User == "" || len(c.Password) < 8 {
			return c, fmt.Errorf("%s is damaged; remove %s to start afresh", path, dir)
		}
		return c, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return credentialsJSON{}, err
	}
	secret := make([]byte, 20)
	_, _ = rand.Read(secret)
	c := credentialsJSON{User: "sovereign", Password: hex.EncodeToString(secret)}
	b, _ = json.Marshal(c)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return c, err
	}
	return c, nil
}

// errPortInUse marks a start that failed because the port was taken.
var errPortInUse = errors.New("in use")

// launch starts the server on port and waits until it answers. On failure
// the process is gone when launch returns.
func launch(ctx context.Context, cfg Config, creds credentialsJSON, port int) (*Server, error) {
	logPath := filepath.Join(cfg.Dir, logFile)
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("server log: %w", err)
	}
	defer f.Close() // the child has its own descriptor once started
	logStart, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, fmt.Errorf("server log: %w", err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cmd := exec.Command(cfg.Binary, "server", "--quiet", "--address", addr, filepath.Join(cfg.Dir, dataDir))
	cmd.Dir = cfg.Dir
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+creds.User,
		"MINIO_ROOT_PASSWORD="+creds.Password,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		// Anonymous usage reports and the like go nowhere.
		"MINIO_CALLHOME_ENABLE=off",
	)
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.SysProcAttr = childproc.SysProcAttr(syscall.SIGTERM)
	proc, err := childproc.Start("minio", cmd, cfg.Logger, "port", port, "log", logPath)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", cfg.Binary, err)
	}
	s := &Server{
		user: creds.User, password: creds.Password,
		port: port, proc: proc,
	}
	if err := s.waitReady(ctx); err != nil {
		proc.Kill()
		tail := childproc.LogTail(logPath, logStart, 0)
		if strings.Contains(tail, "port is already in use") || strings.Contains(strings.ToLower(tail), "address already in use") {
			err = fmt.Errorf("port %d %w: %w", port, errPortInUse, err)
		}
		return nil, fmt.Errorf("%w; server log %s ends:\n%s", err, logPath, tail)
	}
	cfg.Logger.Info("minio ready", "binary", cfg.Binary, "dir", cfg.Dir, "port", port, "pid", s.PID())
	return s, nil
}

// waitReady polls the server until it is live and accepts its credentials
// (so that the server answering is this one, not another on the port), the
// process exits, or ctx ends.
func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := s.proc.WithExit(ctx)
	defer cancel()
	client, err := minio.New(s.Endpoint(), &minio.Options{
		Creds:        credentials.NewStaticV4(s.user, s.password, ""),
		BucketLookup: minio.BucketLookupPath,
		Region:       "us-east-1",
	})
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: 2 * time.Second}
	live := "http://" + s.Endpoint() + "/minio/health/live"
	delay := 10 * time.Millisecond
	for {
		err := s.check(ctx, hc, live, client)
		if err == nil {
			return nil
		}
		select {
		case <-s.proc.Done():
			return fmt.Errorf("minio exited during start: %v", s.proc.Err())
		case <-ctx.Done():
			return fmt.Errorf("minio not ready: %w (last attempt: %v)", context.Cause(ctx), err)
		case <-time.After(delay):
		}
		delay = min(2*delay, 250*time.Millisecond)
	}
}

// check makes one liveness and one authenticated request.
func (s *Server) check(ctx context.Context, hc *http.Client, live string, client *minio.Client) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, live, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", live, resp.Status)
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := client.ListBuckets(cctx); err != nil {
		return fmt.Errorf("list buckets: %w", err)
	}
	return nil
}

// Endpoint returns the S3 endpoint, 127.0.0.1:PORT (plain HTTP).
func (s *Server) Endpoint() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Port returns the TCP port of the S3 API, on 127.0.0.1.
func (s *Server) Port() int { return s.port }

// User returns the root user, which S3 clients use as access key.
func (s *Server) User() string { return s.user }

// Password returns the root password, which S3 clients use as secret key.
func (s *Server) Password() string { return s.password }

// URL returns the server as a storage URL for bucket, in the form
// blob.ParseS3URL reads:
// s3://USER:PASSWORD@127.0.0.1:PORT/BUCKET?region=us-east-1&secure=false.
func (s *Server) URL(bucket string) string {
	u := url.URL{
		Scheme:   "s3",
		User:     url.UserPassword(s.user, s.password),
		Host:     s.Endpoint(),
		Path:     "/" + bucket,
		RawQuery: "region=us-east-1&secure=false",
	}
	return u.String()
}

// PID returns the server's process id.
func (s *Server) PID() int { return s.proc.PID() }

// Wait returns a channel that is closed when the server process has exited,
// whether through Stop or otherwise.
func (s *Server) Wait() <-chan struct{} { return s.proc.Done() }

// Stop asks the server to shut down (SIGTERM) and waits until it has exited.
// If ctx ends first, it kills the server with SIGKILL and returns an error
// saying so. Stop on a stopped server returns nil.
func (s *Server) Stop(ctx context.Context) error { return s.proc.Stop(ctx, syscall.SIGTERM) }

//go:build unix

package valkeyproc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sovereign-backend/sovereign/internal/freeport"
)

// helperEnv, when set, makes the test binary a helper process that starts
// a server in the directory it names; see TestDiesWithParent.
const helperEnv = "VALKEYPROC_TEST_HELPER_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(helperEnv); dir != "" {
		os.Exit(helperMain(dir))
	}
	goleak.VerifyTestMain(m)
}

// helperMain starts a server in dir, prints its pid and waits until stdin
// closes, which never happens: TestDiesWithParent kills this process.
func helperMain(dir string) int {
	ctx := context.Background()
	c, err := Start(ctx, Config{Dir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(c.PID())
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = c.Stop(ctx)
	return 0
}

// TestDiesWithParent checks that the server ends when the process that
// started it is killed without a chance to call Stop.
func TestDiesWithParent(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("only Linux signals a child when its parent dies")
	}
	t.Parallel()
	dir := t.TempDir()
	helper := exec.Command(os.Args[0])
	helper.Env = append(os.Environ(), helperEnv+"="+dir)
	var stderr strings.Builder
	helper.Stderr = &stderr
	stdin, err := helper.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		_ = helper.Process.Kill()
		_ = helper.Wait()
		t.Fatalf("helper printed no pid: %v; its stderr:\n%s", err, stderr.String())
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("helper printed %q", line)
	}
	if err := helper.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = helper.Wait()

	// Poll until the valkey process is gone (or a zombie waiting for init
	// to reap it); the test binary's timeout bounds the wait.
	for !processGone(pid) {
		time.Sleep(20 * time.Millisecond)
	}
}

// processGone reports whether pid no longer runs: it does not exist or is a
// zombie.
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	// The state follows the parenthesised command name: "pid (comm) Z ...".
	i := strings.LastIndexByte(string(stat), ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}

// start starts a server and stops it at cleanup.
func start(t *testing.T, cfg Config) *Server {
	t.Helper()
	s, err := Start(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(context.Background()); err != nil {
			t.Errorf("Stop at cleanup: %v", err)
		}
	})
	return s
}

// stop stops s and checks that its process is gone.
func stop(t *testing.T, s *Server) {
	t.Helper()
	if err := s.Stop(t.Context()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	select {
	case <-s.Wait():
	default:
		t.Fatal("Wait channel still open after Stop returned")
	}
	if err := syscall.Kill(s.PID(), 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("server pid %d after Stop: kill(pid, 0) = %v, want ESRCH", s.PID(), err)
	}
}

// command sends one command over a fresh TCP connection and returns the first
// line of the reply.
func command(t *testing.T, port int, args ...string) string {
	t.Helper()
	conn, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("dial port %d: %v", port, err)
	}
	defer conn.Close()
	req := "*" + strconv.Itoa(len(args)) + "\r\n"
	for _, a := range args {
		req += "$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n"
	}
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatalf("read reply to %v: %v", args, err)
	}
	return strings.TrimRight(line, "\r\n")
}

func TestStartPingStop(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := start(t, Config{Dir: dir})

	if got := command(t, s.Port(), "PING"); got != "+PONG" {
		t.Errorf("PING = %q, want +PONG", got)
	}
	if got := command(t, s.Port(), "SET", "k", "v"); got != "+OK" {
		t.Errorf("SET = %q, want +OK", got)
	}
	if want := "redis://127.0.0.1:" + strconv.Itoa(s.Port()); s.URL() != want {
		t.Errorf("URL() = %s, want %s", s.URL(), want)
	}
	if want := filepath.Join(dir, confFile); s.ConfigPath() != want {
		t.Errorf("ConfigPath() = %s, want %s", s.ConfigPath(), want)
	}
	conf, err := os.ReadFile(s.ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"bind 127.0.0.1", "port " + strconv.Itoa(s.Port()), `save ""`, "appendonly no", "protected-mode yes", "daemonize no"} {
		if !strings.Contains(string(conf), line+"\n") {
			t.Errorf("config lacks %q:\n%s", line, conf)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, pidFile)); err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(s.PID()) {
		t.Errorf("pid file = %q, %v; want %d", b, err, s.PID())
	}
	if fi, err := os.Stat(filepath.Join(dir, logFile)); err != nil || fi.Size() == 0 {
		t.Errorf("log file: %v, want a non-empty %s", err, logFile)
	}

	stop(t, s)
	stop(t, s) // idempotent
}

func TestPreferredPort(t *testing.T) {
	t.Parallel()
	port, err := freeport.Pick(0)
	if err != nil {
		t.Fatal(err)
	}
	s := start(t, Config{Dir: t.TempDir(), Port: port})
	if s.Port() != port {
		t.Errorf("Port() = %d, want %d", s.Port(), port)
	}
	if got := command(t, port, "PING"); got != "+PONG" {
		t.Errorf("PING = %q, want +PONG", got)
	}
}

func TestRestartReusesPort(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s1 := start(t, Config{Dir: dir})
	stop(t, s1)

	s2 := start(t, Config{Dir: dir})
	if s2.Port() != s1.Port() {
		// Only another process taking the port in between excuses this.
		if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(s1.Port())); err == nil {
			l.Close()
			t.Errorf("second start got port %d although the previous port %d is free", s2.Port(), s1.Port())
		}
	}
	stop(t, s2)

	// When the previous port is taken, a start picks another.
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(s2.Port()))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s3 := start(t, Config{Dir: dir})
	if s3.Port() == s2.Port() {
		t.Errorf("third start got port %d, which a listener holds", s3.Port())
	}
	if got := command(t, s3.Port(), "PING"); got != "+PONG" {
		t.Errorf("PING = %q, want +PONG", got)
	}
}

func TestPortTaken(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port

	dir := t.TempDir()
	_, err = Start(t.Context(), Config{Dir: dir, Port: port})
	if err == nil {
		t.Fatalf("Start on port %d, which a listener holds, succeeded", port)
	}
	if !errors.Is(err, errPortInUse) {
		t.Errorf("err = %v, want errPortInUse", err)
	}
	// The error carries the server log's tail, which says why.
	if !strings.Contains(err.Error(), "Address already in use") || !strings.Contains(err.Error(), filepath.Join(dir, logFile)) {
		t.Errorf("err = %v, want the server log's tail and path", err)
	}
}

// TestAwkwardDir checks that the configuration quotes paths: the directory
// name holds a space, a double quote and a backslash.
func TestAwkwardDir(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), `my "dev" dir\x`)
	s := start(t, Config{Dir: dir})
	if got := command(t, s.Port(), "CONFIG", "GET", "dir"); got != "*2" {
		t.Fatalf("CONFIG GET dir = %q, want a two-element array", got)
	}
	if _, err := os.Stat(filepath.Join(dir, pidFile)); err != nil {
		t.Errorf("pid file not in %s: %v", dir, err)
	}
}

// TestConfigRestartsByHand starts the server from ConfigPath the way an
// operator would, after Stop.
func TestConfigRestartsByHand(t *testing.T) {
	t.Parallel()
	bin, err := FindBinary()
	if err != nil {
		t.Fatal(err)
	}
	s := start(t, Config{Dir: t.TempDir()})
	stop(t, s)

	cmd := exec.Command(bin, s.ConfigPath())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
	}()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port()))
	for {
		err := ping(t.Context(), addr, cmd.Process.Pid)
		if err == nil {
			return
		}
		select {
		case werr := <-exited:
			exited <- werr // for the deferred reap
			t.Fatalf("server started by hand exited: %v; last ping: %v", werr, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestQuote(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"/tmp/x":       `"/tmp/x"`,
		`a "b" c`:      `"a \"b\" c"`,
		`back\slash`:   `"back\\slash"`,
		"new\nline\t1": `"new\x0aline\x091"`,
	} {
		if got := quote(in); got != want {
			t.Errorf("quote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestFindBinary(t *testing.T) {
	t.Parallel()
	bin, err := FindBinary()
	if err != nil {
		t.Fatal(err)
	}
	if base := filepath.Base(bin); base != "valkey-server" && base != "redis-server" {
		t.Errorf("FindBinary() = %s, want valkey-server or redis-server", bin)
	}
}

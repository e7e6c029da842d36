//go:build unix

package pgproc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/sovereign-backend/sovereign/internal/freeport"
)

// helperEnv, when set, makes the test binary a helper process that starts
// a server in the directory it names; see TestDiesWithParent.
const helperEnv = "PGPROC_TEST_HELPER_DIR"

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
	dir := newDir(t)
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

	// Poll until the postgres process is gone (or a zombie waiting for init
	// to reap it); the test binary's timeout bounds the wait.
	for !processGone(pid) {
		time.Sleep(20 * time.Millisecond)
	}

	// It shut down cleanly, so the next start needs no crash recovery and
	// finds no live server.
	c := start(t, Config{Dir: dir})
	connect(t, c.URL("")).Close(t.Context())
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

// newDir returns a path for a data directory that does not exist yet, in a
// parent that the unprivileged PostgreSQL user can enter when the tests run
// as root. Cleanup removes it; as root, files owned by that user go too.
func newDir(t *testing.T) string {
	t.Helper()
	parent, err := os.MkdirTemp("", "pgproc-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(parent); err != nil {
			t.Errorf("remove test directory: %v", err)
		}
	})
	if err := os.Chmod(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(parent, "data")
}

// start starts a cluster and stops it at cleanup.
func start(t *testing.T, cfg Config) *Cluster {
	t.Helper()
	c, err := Start(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(context.Background()); err != nil {
			t.Errorf("Stop at cleanup: %v", err)
		}
	})
	return c
}

// stop stops c and checks that its process is gone.
func stop(t *testing.T, c *Cluster) {
	t.Helper()
	if err := c.Stop(t.Context()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	select {
	case <-c.Wait():
	default:
		t.Fatal("Wait channel still open after Stop returned")
	}
	if err := syscall.Kill(c.PID(), 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("postmaster pid %d after Stop: kill(pid, 0) = %v, want ESRCH", c.PID(), err)
	}
}

func connect(t *testing.T, connURL string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), connURL)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestStartStopRestart(t *testing.T) {
	t.Parallel()
	dir := newDir(t)

	c1 := start(t, Config{Dir: dir})
	conn := connect(t, c1.URL("postgres"))
	if _, err := conn.Exec(t.Context(), "CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	var user string
	if err := conn.QueryRow(t.Context(), "SELECT current_user").Scan(&user); err != nil {
		t.Fatal(err)
	}
	if user != "sovereign" {
		t.Errorf("current_user = %q, want the default superuser sovereign", user)
	}
	conn.Close(t.Context())
	for _, f := range []string{superuserFile, portFile} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, perm)
		}
	}
	stop(t, c1)
	stop(t, c1) // idempotent

	// A second start on the same directory finds the cluster: no initdb,
	// same password, same port (it is free again).
	c2 := start(t, Config{Dir: dir})
	conn = connect(t, c2.URL("postgres"))
	var v int
	if err := conn.QueryRow(t.Context(), "SELECT v FROM kept").Scan(&v); err != nil {
		t.Fatalf("table from the first run: %v", err)
	}
	if v != 42 {
		t.Errorf("kept.v = %d, want 42", v)
	}
	if p1, p2 := password(t, c1.URL("")), password(t, c2.URL("")); p1 != p2 {
		t.Errorf("password changed across starts")
	}
	if c2.Port() != c1.Port() {
		// Only another process taking the port in between excuses this.
		if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(c1.Port())); err == nil {
			l.Close()
			t.Errorf("second start got port %d although the previous port %d is free", c2.Port(), c1.Port())
		}
	}
	// The old URL, with the old password, still works against the new server.
	old, err := url.Parse(c1.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	old.Host = net.JoinHostPort("127.0.0.1", strconv.Itoa(c2.Port()))
	connect(t, old.String()).Close(t.Context())
	stop(t, c2)

	// When the previous port is taken, a start picks another.
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(c2.Port()))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c3 := start(t, Config{Dir: dir})
	if c3.Port() == c2.Port() {
		t.Errorf("third start got port %d, which a listener holds", c3.Port())
	}
	connect(t, c3.URL("")).Close(t.Context())
	stop(t, c3)

	if _, err := Start(t.Context(), Config{Dir: dir, User: "someone"}); err == nil || !strings.Contains(err.Error(), `superuser "sovereign"`) {
		t.Errorf("Start with another superuser name: err = %v, want one naming the cluster's superuser", err)
	}
}

func password(t *testing.T, connURL string) string {
	t.Helper()
	u, err := url.Parse(connURL)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := u.User.Password()
	if !ok || p == "" {
		t.Fatalf("URL %s has no password", connURL)
	}
	return p
}

func TestURL(t *testing.T) {
	t.Parallel()
	c := &Cluster{user: "sovereign", password: "pw", port: 5555}
	for db, want := range map[string]string{
		"":    "postgres://sovereign:pw@127.0.0.1:5555/postgres?sslmode=disable",
		"app": "postgres://sovereign:pw@127.0.0.1:5555/app?sslmode=disable",
	} {
		if got := c.URL(db); got != want {
			t.Errorf("URL(%q) = %s, want %s", db, got, want)
		}
	}
}

func TestExplicitPortAndUser(t *testing.T) {
	t.Parallel()
	port, err := freeport.Pick(0)
	if err != nil {
		t.Fatal(err)
	}
	c := start(t, Config{Dir: newDir(t), Port: port, User: "admin"})
	if c.Port() != port {
		t.Errorf("Port() = %d, want %d", c.Port(), port)
	}
	if !strings.Contains(c.URL("postgres"), ":"+strconv.Itoa(port)+"/") {
		t.Errorf("URL %s does not use port %d", c.URL("postgres"), port)
	}
	var user string
	if err := connect(t, c.URL("postgres")).QueryRow(t.Context(), "SELECT current_user").Scan(&user); err != nil {
		t.Fatal(err)
	}
	if user != "admin" {
		t.Errorf("current_user = %q, want admin", user)
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

	dir := newDir(t)
	_, err = Start(t.Context(), Config{Dir: dir, Port: port})
	if err == nil {
		t.Fatalf("Start on port %d, which a listener holds, succeeded", port)
	}
	// The error carries the server log's tail, which says why.
	if !strings.Contains(err.Error(), "could not bind") || !strings.Contains(err.Error(), filepath.Join(dir, logFile)) {
		t.Errorf("err = %v, want the server log's tail and path", err)
	}
	if !strings.Contains(err.Error(), "postgres exited during start") {
		t.Errorf("err = %v, want it to say postgres exited", err)
	}
}

func TestAlreadyRunning(t *testing.T) {
	t.Parallel()
	dir := newDir(t)
	c := start(t, Config{Dir: dir})
	_, err := Start(t.Context(), Config{Dir: dir})
	if err == nil {
		t.Fatal("second Start on a running cluster succeeded")
	}
	want := "a PostgreSQL server is already running on " + dir + " (pid " + strconv.Itoa(c.PID()) + ")"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v, want it to contain %q", err, want)
	}
	// The running server is untouched.
	connect(t, c.URL("postgres")).Close(t.Context())
}

func TestStalePIDFile(t *testing.T) {
	t.Parallel()
	dir := newDir(t)

	// A killed run: the postmaster and its backends die with SIGKILL and
	// leave postmaster.pid behind.
	c := start(t, Config{Dir: dir})
	if _, err := connect(t, c.URL("")).Exec(t.Context(), "CREATE TABLE survived (v int); INSERT INTO survived VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(-c.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-c.Wait()
	// The backends die with the postmaster but exit on their own schedule;
	// until the last one has, PostgreSQL rightly refuses to start on their
	// shared memory.
	for deadline := time.Now().Add(30 * time.Second); syscall.Kill(-c.PID(), 0) == nil; {
		if time.Now().After(deadline) {
			t.Fatal("the killed cluster's processes are still alive")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(dir, "postmaster.pid")); err != nil {
		t.Fatalf("postmaster.pid after the kill: %v", err)
	}
	c = start(t, Config{Dir: dir})
	var v int
	if err := connect(t, c.URL("")).QueryRow(t.Context(), "SELECT v FROM survived").Scan(&v); err != nil {
		t.Fatalf("committed row after crash recovery: %v", err)
	}
	stop(t, c)

	// A stale postmaster.pid whose pid now belongs to a live process that is
	// not postgres (pid reuse after a reboot).
	sleeper := exec.Command("sleep", "3600")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = sleeper.Process.Kill()
		_ = sleeper.Wait()
	})
	pidFile := filepath.Join(dir, "postmaster.pid")
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(sleeper.Process.Pid)+"\n"+dir+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c = start(t, Config{Dir: dir})
	connect(t, c.URL("")).Close(t.Context())
	stop(t, c)
}

func TestNonEmptyDir(t *testing.T) {
	t.Parallel()
	dir := newDir(t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Start(t.Context(), Config{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("Start on a non-empty directory: err = %v, want one saying it is not empty", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "notes.txt")); err != nil || string(b) != "mine" {
		t.Errorf("the directory's file was disturbed: %q, %v", b, err)
	}
}

func TestExistingDirEmpty(t *testing.T) {
	t.Parallel()
	dir := newDir(t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c := start(t, Config{Dir: dir})
	connect(t, c.URL("")).Close(t.Context())
}

func TestNotTraversable(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only a root process runs PostgreSQL as another user")
	}
	t.Parallel()
	parent, err := os.MkdirTemp("", "pgproc-test-private-") // mode 0700, owned by root
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(parent) })
	_, err = Start(t.Context(), Config{Dir: filepath.Join(parent, "data")})
	if !errors.Is(err, ErrDirNotTraversable) {
		t.Fatalf("err = %v, want ErrDirNotTraversable", err)
	}
	if !strings.Contains(err.Error(), parent) {
		t.Errorf("err = %v, want it to name %s", err, parent)
	}
	if _, err := os.Stat(filepath.Join(parent, "data")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("data directory was created despite the error: %v", err)
	}
}

func TestFindBinDir(t *testing.T) {
	t.Parallel()
	dir, err := FindBinDir()
	if err != nil {
		t.Fatal(err)
	}
	if !hasBinaries(dir) {
		t.Errorf("FindBinDir() = %s, which lacks initdb or postgres", dir)
	}
}

func TestDirVersion(t *testing.T) {
	t.Parallel()
	for dir, want := range map[string][]int{
		"/usr/lib/postgresql/9.6/bin": {9, 6},
		"/usr/lib/postgresql/16/bin":  {16},
		"/usr/pgsql-10/bin":           {10},
	} {
		if got := dirVersion(dir); !slices.Equal(got, want) {
			t.Errorf("dirVersion(%s) = %v, want %v", dir, got, want)
		}
	}
	if slices.Compare(dirVersion("/usr/lib/postgresql/10/bin"), dirVersion("/usr/lib/postgresql/9.6/bin")) <= 0 {
		t.Error("version 10 does not sort after 9.6")
	}
}

package servercmd

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/pflag"

	sovereign "github.com/sovereign-backend/sovereign/sdk/go"

	"github.com/sovereign-backend/sovereign/internal/flagenv"
	"github.com/sovereign-backend/sovereign/internal/testenv"
	"github.com/sovereign-backend/sovereign/internal/valkeyproc"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestTestServicesAgreesWithTestenv(t *testing.T) {
	if testEnvDatabaseURL != testenv.EnvDatabaseURL || testEnvValkeyURL != testenv.EnvValkeyURL || testStateFile != testenv.StateFile {
		t.Fatal("test-services and internal/testenv disagree on the variable names or the state file")
	}
}

// Every flag of every server command is in docs/configuration.md, with its
// environment variable, so the table cannot drift from the code.
func TestConfigurationDocsCoverEveryFlag(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	root := NewRootCmd(io.Discard, io.Discard)
	for _, name := range []string{"controlplane", "dataplane", "dev"} {
		cmd, _, err := root.Find([]string{name})
		if err != nil {
			t.Fatal(err)
		}
		section := sectionOf(string(doc), "## `sovereign "+name+"`")
		if section == "" {
			t.Fatalf("docs/configuration.md has no section for sovereign %s", name)
		}
		cmd.Flags().VisitAll(func(f *pflag.Flag) {
			row := "| `--" + f.Name + "` | `" + flagenv.EnvName(f.Name) + "` | `" + f.DefValue + "` |"
			if !strings.Contains(section, row) && !strings.Contains(section, "| `--"+f.Name+"` | `"+flagenv.EnvName(f.Name)+"` | (") {
				t.Errorf("sovereign %s --%s: docs/configuration.md lacks a row starting %q", name, f.Name, row)
			}
		})
	}
}

func sectionOf(doc, heading string) string {
	_, rest, ok := strings.Cut(doc, heading)
	if !ok {
		return ""
	}
	if i := strings.Index(rest, "\n## "); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

func TestBadEnvironmentIsAUsageError(t *testing.T) {
	t.Setenv("SOVEREIGN_MAX_BODY_BYTES", "lots")
	root := NewRootCmd(io.Discard, io.Discard)
	root.SetArgs([]string{"controlplane", "--database-url", "postgres://x"})
	err := root.ExecuteContext(context.Background())
	var ue usageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "SOVEREIGN_MAX_BODY_BYTES") {
		t.Fatalf("err = %v; want a usage error naming SOVEREIGN_MAX_BODY_BYTES", err)
	}
}

// runningDev is a `sovereign dev` started by a test.
type runningDev struct {
	cpURL, dpURL string
	stop         func() error
}

var urlLine = regexp.MustCompile(`(control|data) plane\s+(http://\S+)`)

// startDev runs the dev command with args and waits until it prints its URLs.
func startDev(t *testing.T, args ...string) *runningDev {
	t.Helper()
	pr, pw := io.Pipe()
	var logs syncBuffer
	root := NewRootCmd(pw, &logs)
	root.SetArgs(append([]string{"dev", "--controlplane-addr", "127.0.0.1:0", "--dataplane-addr", "127.0.0.1:0", "--dir", t.TempDir()}, args...))
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		err := root.ExecuteContext(ctx)
		pw.Close()
		errc <- err
	}()
	d := &runningDev{}
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if m := urlLine.FindStringSubmatch(sc.Text()); m != nil {
			if m[1] == "control" {
				d.cpURL = m[2]
			} else {
				d.dpURL = m[2]
			}
		}
		if strings.HasPrefix(sc.Text(), "Press Ctrl-C") {
			break
		}
	}
	if d.cpURL == "" || d.dpURL == "" {
		cancel()
		t.Fatalf("dev did not print its URLs: %v\nlogs:\n%s", <-errc, logs.String())
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	var once sync.Once
	var stopErr error
	d.stop = func() error {
		once.Do(func() { cancel(); stopErr = <-errc })
		return stopErr
	}
	t.Cleanup(func() { _ = d.stop() })
	return d
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestDevServesBothPlanes(t *testing.T) {
	t.Parallel()
	d := startDev(t, "--database-url", testenv.Database(t), "--valkey-url", testenv.ValkeyURL(t), "--key-prefix", testenv.KeyPrefix(t))
	for _, base := range []string{d.cpURL, d.dpURL} {
		if code, body := get(t, base+"/healthz"); code != 200 {
			t.Errorf("%s/healthz: %d %s", base, code, body)
		}
		code, body := get(t, base+"/readyz")
		if code != 200 || !strings.Contains(body, `"status":"ready"`) {
			t.Errorf("%s/readyz: %d %s", base, code, body)
		}
		var rz struct {
			Checks []struct {
				Name string `json:"name"`
				OK   bool   `json:"ok"`
			} `json:"checks"`
		}
		if err := json.Unmarshal([]byte(body), &rz); err != nil || len(rz.Checks) != 2 || rz.Checks[0].Name != "postgres" || rz.Checks[1].Name != "valkey" {
			t.Errorf("%s/readyz checks: %s (%v)", base, body, err)
		}
		if code, body := get(t, base+"/metrics"); code != 200 || !strings.Contains(body, `sovereign_http_requests_total{code="200",method="GET",route="GET /readyz"}`) {
			t.Errorf("%s/metrics lacks the readyz request count: %d", base, code)
		}
	}
	ctx := context.Background()
	cs, err := sovereign.NewManagementClient(d.cpURL).Status(ctx)
	if err != nil || !cs.Ready || cs.Region != "" || len(cs.Checks) != 2 {
		t.Fatalf("control plane status: %+v, %v", cs, err)
	}
	ds, err := sovereign.NewClient(d.dpURL).Status(ctx)
	if err != nil || !ds.Ready || ds.Region != "local" {
		t.Fatalf("data plane status: %+v, %v", ds, err)
	}
	if err := d.stop(); err != nil {
		t.Fatalf("dev stopped with %v", err)
	}
	if _, err := http.Get(d.dpURL + "/healthz"); err == nil {
		t.Fatal("data plane still answers after stop")
	}
}

// The acceptance check: Valkey stopping turns /readyz into 503 with a reason,
// and its return brings 200 back without restarting Sovereign.
func TestReadyzFollowsValkey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	kv, err := valkeyproc.Start(ctx, valkeyproc.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kv.Stop(context.Background()) })
	d := startDev(t, "--database-url", testenv.Database(t), "--valkey-url", kv.URL(), "--key-prefix", testenv.KeyPrefix(t))
	if code, body := get(t, d.dpURL+"/readyz"); code != 200 {
		t.Fatalf("readyz before: %d %s", code, body)
	}
	port := kv.Port()
	if err := kv.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	code, body := get(t, d.dpURL+"/readyz")
	if code != 503 || !strings.Contains(body, `"name":"valkey","ok":false,"reason":"`) || !strings.Contains(body, `"name":"postgres","ok":true`) {
		t.Fatalf("readyz with Valkey down: %d %s; want 503 naming valkey", code, body)
	}
	kv2, err := valkeyproc.Start(ctx, valkeyproc.Config{Dir: dir, Port: port})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kv2.Stop(context.Background()) })
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body = get(t, d.dpURL+"/readyz")
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz after Valkey returned: %d %s", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// With no URLs, dev starts its own PostgreSQL and Valkey, and after stopping
// leaves neither process alive. The test directory is private to root (0700),
// so the PostgreSQL user cannot reach it and the cluster takes the fallback
// place under the temporary directory.
func TestDevPrivatePostgresAndValkey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sum := sha256.Sum256([]byte(dir))
	fallback := filepath.Join(os.TempDir(), "sovereign-"+hex.EncodeToString(sum[:6]))
	t.Cleanup(func() { _ = os.RemoveAll(fallback) })
	d := startDev(t, "--dir", dir)
	for _, base := range []string{d.cpURL, d.dpURL} {
		if code, body := get(t, base+"/readyz"); code != 200 {
			t.Errorf("%s/readyz: %d %s", base, code, body)
		}
	}
	pgPIDFile := filepath.Join(dir, "postgres", "postmaster.pid")
	if os.Geteuid() == 0 {
		pgPIDFile = filepath.Join(fallback, "postgres", "postmaster.pid")
	}
	pids := map[string]int{"postgres": firstLineInt(t, pgPIDFile), "valkey": firstLineInt(t, filepath.Join(dir, "valkey", "valkey.pid"))}
	if err := d.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	for name, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s (pid %d) is still alive after dev stopped (kill 0: %v)", name, pid, err)
		}
	}
}

func firstLineInt(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	n, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || n <= 0 {
		t.Fatalf("%s: no pid in %q", path, line)
	}
	return n
}

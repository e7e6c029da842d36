// Package doctest proves that the examples in docs/ work: it runs them
// against a real platform (internal/platformtest: both planes in process, on
// the test PostgreSQL and Valkey) and fails when one does not do what its
// page says.
//
// How a page is read, in order of its fenced code blocks:
//
//   - ```sh blocks run one after another in bash (set -euo pipefail, set -a)
//     in the same environment: variables a block assigns are there in the
//     next. The dev URLs http://127.0.0.1:7070 and :7071 in a block are
//     replaced by the test platform's. `sov` is this test binary (TestMain
//     runs the CLI when called by that name) with SOV_API_URL, SOV_DATA_URL
//     and a fresh SOV_CONFIG_DIR, and `curl` is the system's curl, wrapped to
//     report each answer's HTTP status. A block must exit 0 and every curl
//     answer must be 2xx, unless its answer block (below) is an error.
//   - A ```json block right after an sh block is that block's answer: the
//     output must be JSON of the same shape, every key of every object the
//     same, with the same values (the test platform's URLs read as the dev
//     ones), where a string with "…" in it is a
//     placeholder ("…" alone matches any value, "sov_sk_…" any string
//     starting with sov_sk_) and a trailing "…" element in a list stands for
//     any further elements. An answer with a top-level "code" is a Connect
//     error: the curl answer must carry the HTTP status the Connect protocol
//     gives that code, or the one the fence names (```json status=413) where
//     the API answers otherwise (REST's 413 for a body over its limit).
//   - ```go blocks are complete programs; they must build and pass go vet.
//     They are compiled, not run. Each is written to a directory of its own
//     in a temporary module whose go.work uses the repository's sdk/go and
//     proto, so the build needs nothing but the local module cache (GOPROXY
//     is off).
//   - Other blocks (```text, ```console) are for reading only.
//
// A table of Connect codes and HTTP statuses on a page (rows "| `code` |
// status |") is checked against the Connect protocol's mapping.
package doctest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sovereign-backend/sovereign/cli/db"
	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/root"
	"github.com/sovereign-backend/sovereign/internal/platformtest"
	"github.com/sovereign-backend/sovereign/internal/testenv"
)

// TestMain makes the test binary double as `sov`: the sh blocks call it
// through a link of that name.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == "sov" {
		os.Exit(sovMain())
	}
	testenv.Main(m)
}

// sovMain is root.Main with `sov db` added when the root does not have it
// yet, so that the data page runs before and after it is wired in.
func sovMain() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	f := factory.New()
	cmd := root.NewCmdRoot(f)
	if c, _, err := cmd.Find([]string{"db"}); err != nil || c == cmd {
		cmd.AddCommand(db.NewCmdDB(f))
	}
	cmd.SetArgs(os.Args[1:])
	if err := cmd.ExecuteContext(ctx); err != nil {
		if strings.HasPrefix(err.Error(), "unknown command ") {
			err = factory.WithExitCode(err, factory.ExitUsage)
		}
		root.PrintError(f.IO.ErrOut, err)
		return factory.ExitCode(err)
	}
	return factory.ExitOK
}

// The URLs the pages use, as `sov dev` serves them.
const (
	devAPIURL  = "http://127.0.0.1:7070"
	devDataURL = "http://127.0.0.1:7071"
)

// pages are the pages under docs/ that this test runs, each against a
// platform of its own.
var pages = []string{
	"auth.md",
	"control-plane.md",
	"data.md",
	"realtime.md",
	"rules.md",
	"storage.md",
}

func TestPages(t *testing.T) {
	for _, name := range pages {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			runPage(t, name)
		})
	}
}

// block is one fenced code block of a page.
type block struct {
	lang string
	// status is the HTTP status that a json block's error answer comes with
	// when it is not the Connect code's (```json status=413); 0 otherwise.
	status int
	line   int // of the opening fence, 1-based
	text   string
}

func (b block) String() string { return fmt.Sprintf("%s block at line %d", b.lang, b.line) }

func runPage(t *testing.T, name string) {
	repo := repoRoot(t)
	path := filepath.Join(repo, "docs", name)
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blocks := parseBlocks(string(src))
	checkCodeTable(t, name, string(src))

	var goBlocks []block
	for _, b := range blocks {
		if b.lang == "go" {
			goBlocks = append(goBlocks, b)
		}
	}
	if len(goBlocks) == 0 {
		t.Errorf("%s has no go blocks", name)
	}
	t.Run("go", func(t *testing.T) {
		t.Parallel()
		compileGo(t, repo, goBlocks)
	})
	t.Run("sh", func(t *testing.T) {
		t.Parallel()
		runShell(t, blocks)
	})
}

// fence matches an opening fence: its language, then an info string that
// may give a status (```json status=413).
var (
	fence      = regexp.MustCompile("^```([a-z]*)(.*)")
	statusAttr = regexp.MustCompile(`(?:^|\s)status=([0-9]{3})(?:\s|$)`)
)

func parseBlocks(src string) []block {
	var (
		out  []block
		cur  *block
		body []string
	)
	for i, line := range strings.Split(src, "\n") {
		if cur == nil {
			if m := fence.FindStringSubmatch(line); m != nil {
				var status int
				if a := statusAttr.FindStringSubmatch(m[2]); a != nil {
					status, _ = strconv.Atoi(a[1])
				}
				cur, body = &block{lang: m[1], status: status, line: i + 1}, nil
			}
			continue
		}
		if strings.HasPrefix(line, "```") {
			cur.text = strings.Join(body, "\n") + "\n"
			out = append(out, *cur)
			cur = nil
			continue
		}
		body = append(body, line)
	}
	return out
}

// connectHTTPStatus is the Connect protocol's HTTP status for each code
// (https://connectrpc.com/docs/protocol#error-codes).
var connectHTTPStatus = map[string]int{
	"canceled": 499, "unknown": 500, "invalid_argument": 400, "deadline_exceeded": 504,
	"not_found": 404, "already_exists": 409, "permission_denied": 403, "resource_exhausted": 429,
	"failed_precondition": 400, "aborted": 409, "out_of_range": 400, "unimplemented": 501,
	"internal": 500, "unavailable": 503, "data_loss": 500, "unauthenticated": 401,
}

var codeRow = regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\| (\\d{3}) ")

// checkCodeTable checks every "| `code` | status |" row against Connect.
func checkCodeTable(t *testing.T, name, src string) {
	rows := codeRow.FindAllStringSubmatch(src, -1)
	if len(rows) == 0 {
		t.Errorf("%s has no table of Connect codes and HTTP statuses", name)
	}
	for _, r := range rows {
		want, ok := connectHTTPStatus[r[1]]
		if !ok {
			t.Errorf("%s: the error table names %q, which is not a Connect code", name, r[1])
			continue
		}
		if got, _ := strconv.Atoi(r[2]); got != want {
			t.Errorf("%s: the error table gives %s HTTP %d; Connect answers it with %d", name, r[1], got, want)
		}
	}
}

// runShell runs the sh blocks against a fresh platform, in order, and checks
// their answers.
func runShell(t *testing.T, blocks []block) {
	p := platformtest.Start(t, platformtest.Options{})
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(self, filepath.Join(bin, "sov")); err != nil {
		t.Fatal(err)
	}
	realCurl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatalf("the pages' REST examples use curl, which is not installed: %v", err)
	}
	if _, err := exec.LookPath("jq"); err != nil {
		t.Fatalf("the pages' REST examples use jq, which is not installed: %v", err)
	}
	// The wrapper reports each answer's HTTP status on stderr after the body.
	shim := "#!/bin/sh\nexec " + realCurl + " --write-out '%{stderr}" + statusMarker + "%{http_code}\\n' \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "curl"), []byte(shim), 0o755); err != nil {
		t.Fatal(err)
	}

	env := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, "SOV_") && !strings.HasPrefix(k, "BASH_FUNC_") {
			env[k] = v
		}
	}
	home := filepath.Join(dir, "home")
	env["HOME"] = home
	env["SOV_CONFIG_DIR"] = filepath.Join(home, ".config", "sovereign")
	env["SOV_API_URL"] = p.APIURL
	env["SOV_DATA_URL"] = p.DataURL
	env["PATH"] = bin + string(os.PathListSeparator) + env["PATH"]
	envFile := filepath.Join(dir, "env")

	ran, answers := 0, 0
	for i, b := range blocks {
		if b.lang != "sh" {
			continue
		}
		var answer *block
		if i+1 < len(blocks) && blocks[i+1].lang == "json" {
			answer = &blocks[i+1]
		}
		script := strings.NewReplacer(devAPIURL, p.APIURL, devDataURL, p.DataURL).Replace(b.text)
		res, err := runBlock(env, envFile, script)
		if err != nil {
			t.Fatalf("%s: %v\n--- block\n%s--- stdout\n%s--- stderr\n%s", b, err, b.text, res.stdout, res.stderr)
		}
		ran++
		env = res.env
		checkStatuses(t, b, answer, res)
		if answer != nil {
			// Answers show the dev URLs too.
			out := strings.NewReplacer(p.APIURL, devAPIURL, p.DataURL, devDataURL).Replace(res.stdout)
			checkAnswer(t, *answer, out)
			answers++
		}
		if t.Failed() {
			t.Fatalf("stopping at the first failing block; its output:\n--- stdout\n%s--- stderr\n%s", res.stdout, res.stderr)
		}
	}
	if ran == 0 {
		t.Fatal("the page has no sh blocks")
	}
	t.Logf("ran %d sh blocks and checked %d answers", ran, answers)
}

const statusMarker = "doctest-http-status "

type blockResult struct {
	stdout, stderr string
	statuses       []int
	env            map[string]string
}

func runBlock(env map[string]string, envFile, script string) (blockResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	full := "set -euo pipefail\nset -a\n" + script + "\nenv -0 > " + strconv.Quote(envFile) + "\n"
	cmd := exec.CommandContext(ctx, "bash", "--noprofile", "--norc", "-c", full)
	cmd.Dir = env["HOME"]
	if err := os.MkdirAll(cmd.Dir, 0o755); err != nil {
		return blockResult{}, err
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()

	res := blockResult{stdout: stdout.String()}
	var rest []string
	sc := bufio.NewScanner(&stderr)
	for sc.Scan() {
		line := sc.Text()
		if code, ok := strings.CutPrefix(line, statusMarker); ok {
			n, _ := strconv.Atoi(code)
			res.statuses = append(res.statuses, n)
			continue
		}
		rest = append(rest, line)
	}
	res.stderr = strings.Join(rest, "\n")
	if runErr != nil {
		return res, fmt.Errorf("bash: %w", runErr)
	}
	raw, err := os.ReadFile(envFile)
	if err != nil {
		return res, err
	}
	res.env = map[string]string{}
	for kv := range strings.SplitSeq(string(raw), "\x00") {
		k, v, ok := strings.Cut(kv, "=")
		if ok && !slices.Contains([]string{"_", "SHLVL", "PWD", "OLDPWD"}, k) && !strings.HasPrefix(k, "BASH_FUNC_") {
			res.env[k] = v
		}
	}
	return res, nil
}

// checkStatuses wants every curl answer of a block 2xx, except for a block
// whose answer is a Connect error: its last answer must carry the code's
// status.
func checkStatuses(t *testing.T, b block, answer *block, res blockResult) {
	t.Helper()
	wantCode := ""
	if answer != nil {
		var doc map[string]any
		if json.Unmarshal([]byte(answer.text), &doc) == nil {
			wantCode, _ = doc["code"].(string)
		}
	}
	for i, s := range res.statuses {
		last := i == len(res.statuses)-1
		if wantCode != "" && last {
			want := connectHTTPStatus[wantCode]
			if answer.status != 0 {
				want = answer.status
			}
			if s != want {
				t.Errorf("%s: HTTP %d, want %d (%s)", b, s, want, wantCode)
			}
			continue
		}
		if s < 200 || s > 299 {
			t.Errorf("%s: curl answer %d is HTTP %d", b, i+1, s)
		}
	}
	if wantCode != "" && len(res.statuses) == 0 {
		t.Errorf("%s: its answer is a %s error, but it made no curl call", b, wantCode)
	}
	if answer != nil && answer.status != 0 && wantCode == "" {
		t.Errorf("%s gives an HTTP status, but it is not a Connect error (no \"code\")", answer)
	}
}

// checkAnswer compares the output of a block with the answer the page shows.
func checkAnswer(t *testing.T, answer block, out string) {
	t.Helper()
	var want, got any
	if err := json.Unmarshal([]byte(answer.text), &want); err != nil {
		t.Errorf("%s is not JSON: %v", answer, err)
		return
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Errorf("%s: the command before it printed no JSON (%v):\n%s", answer, err, out)
		return
	}
	for _, d := range match("", want, got) {
		t.Errorf("%s: %s", answer, d)
	}
	if t.Failed() {
		pretty, _ := json.MarshalIndent(got, "", "  ")
		t.Logf("%s: the actual answer:\n%s", answer, pretty)
	}
}

// match lists the differences between a documented value and an actual one.
func match(path string, want, got any) []string {
	if s, ok := want.(string); ok && strings.Contains(s, "…") {
		return matchPlaceholder(path, s, got)
	}
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: an object is documented, the answer has %v", at(path), got)}
		}
		var diffs []string
		for _, k := range sortedKeys(w) {
			if _, ok := g[k]; !ok {
				diffs = append(diffs, fmt.Sprintf("%s: documented, not in the answer", at(path+"."+k)))
				continue
			}
			diffs = append(diffs, match(path+"."+k, w[k], g[k])...)
		}
		for _, k := range sortedKeys(g) {
			if _, ok := w[k]; !ok {
				diffs = append(diffs, fmt.Sprintf("%s: in the answer (%v), not documented", at(path+"."+k), g[k]))
			}
		}
		return diffs
	case []any:
		g, ok := got.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: a list is documented, the answer has %v", at(path), got)}
		}
		more := len(w) > 0 && w[len(w)-1] == "…"
		if more {
			w = w[:len(w)-1]
		}
		if len(g) < len(w) || (!more && len(g) != len(w)) {
			return []string{fmt.Sprintf("%s: %d elements documented, the answer has %d", at(path), len(w), len(g))}
		}
		var diffs []string
		for i := range w {
			diffs = append(diffs, match(fmt.Sprintf("%s[%d]", path, i), w[i], g[i])...)
		}
		return diffs
	}
	if !reflect.DeepEqual(want, got) {
		return []string{fmt.Sprintf("%s: documented %v, the answer has %v", at(path), want, got)}
	}
	return nil
}

// matchPlaceholder matches "…" (anything) and strings with fixed parts
// around "…" ("sov_sk_…": a string starting with sov_sk_).
func matchPlaceholder(path, want string, got any) []string {
	if want == "…" {
		return nil
	}
	g, ok := got.(string)
	if !ok {
		return []string{fmt.Sprintf("%s: a string %q is documented, the answer has %v", at(path), want, got)}
	}
	parts := strings.Split(want, "…")
	rest := g
	for i, part := range parts {
		idx := strings.Index(rest, part)
		if idx < 0 || (i == 0 && idx != 0) {
			return []string{fmt.Sprintf("%s: %q does not fit %q", at(path), g, want)}
		}
		rest = rest[idx+len(part):]
	}
	if last := parts[len(parts)-1]; last != "" && !strings.HasSuffix(g, last) {
		return []string{fmt.Sprintf("%s: %q does not fit %q", at(path), g, want)}
	}
	return nil
}

func at(path string) string {
	if path == "" {
		return "the answer"
	}
	return strings.TrimPrefix(path, ".")
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// compileGo builds and vets every go block as a program of its own.
func compileGo(t *testing.T, repo string, blocks []block) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("compiling the Go examples needs the go command: %v", err)
	}
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, "go.mod"), "module doctest.example\n\ngo 1.26.0\n")
	write(filepath.Join(dir, "go.work"), fmt.Sprintf("go 1.26.0\n\nuse (\n\t.\n\t%s\n\t%s\n)\n",
		strconv.Quote(filepath.Join(repo, "sdk", "go")), strconv.Quote(filepath.Join(repo, "proto"))))
	// go.work.sum holds the checksums the workspace's modules need beyond
	// their own go.sum files.
	if sum, err := os.ReadFile(filepath.Join(repo, "go.work.sum")); err == nil {
		write(filepath.Join(dir, "go.work.sum"), string(sum))
	}
	where := map[string]block{}
	for i, b := range blocks {
		name := fmt.Sprintf("example%02d", i+1)
		where[name] = b
		write(filepath.Join(dir, name, "main.go"), b.text)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "vet", "./...")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK="+filepath.Join(dir, "go.work"), "GOPROXY=off", "GOFLAGS=", "GOTOOLCHAIN=local")
	out, err := cmd.CombinedOutput()
	if err != nil {
		// Name the page's lines rather than the temporary files.
		msg := string(out)
		for name, b := range where {
			msg = strings.ReplaceAll(msg, name+"/main.go:", fmt.Sprintf("%s (example %s) line +", b, name))
		}
		t.Fatalf("go vet of the Go examples: %v\n%s", err, msg)
	}
}

// repoRoot is the directory holding go.work, above the working directory.
func repoRoot(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.work above the working directory")
		}
		dir = parent
	}
}

// Package storagetest runs `sov storage` end to end against a running
// platform, as testscript scripts in testdata: a project made through the
// CLI, then its buckets, copies both ways (one file, whole directories,
// stdin and stdout), listings, moves, deletes, signed URLs and usage, and
// the messages bad input gets.
//
// The platform is the one at SOVEREIGN_TEST_API_URL and
// SOVEREIGN_TEST_DATA_URL when both are set (`make test` starts one and sets
// them); otherwise the test starts one in process (internal/platformtest).
package storagetest

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/sovereign-backend/sovereign/cli/internal/clitestenv"
	"github.com/sovereign-backend/sovereign/cli/root"
)

// TestMain makes this test binary double as `sov` for the scripts.
func TestMain(m *testing.M) { clitestenv.Main(m, root.Main) }

func TestStorage(t *testing.T) {
	apiURL, dataURL := clitestenv.Platform(t)
	bin := clitestenv.SovOnPath(t)
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata",
		RequireExplicitExec: true,
		Setup: func(e *testscript.Env) error {
			e.Setenv("PATH", bin+string(os.PathListSeparator)+e.Getenv("PATH"))
			e.Setenv("SOV_API_URL", apiURL)
			e.Setenv("SOV_DATA_URL", dataURL)
			e.Setenv("SOV_CONFIG_DIR", e.WorkDir+"/config")
			e.Setenv("SOV_PROFILE", "")
			e.Setenv("SOV_KEY", "")
			e.Setenv("EMAIL", fmt.Sprintf("storage-%d@example.com", time.Now().UnixNano()))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"jsonget": clitestenv.JSONGet,
			"httpget": httpGet,
			"mkfile":  mkfile,
		},
	})
}

// httpGet is `httpget URL FILE`: GET URL without credentials and write the
// body to FILE; with !, the answer must not be 200.
func httpGet(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: httpget URL FILE")
	}
	resp, err := http.Get(args[0])
	ts.Check(err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	ts.Check(err)
	if ok := resp.StatusCode == http.StatusOK; ok == neg {
		ts.Fatalf("GET %s: HTTP %d: %s", args[0], resp.StatusCode, body)
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), body, 0o644))
}

// mkfile is `mkfile FILE SIZE`: a file of SIZE bytes of a repeating
// pattern, for uploads past the resumable threshold.
func mkfile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: mkfile FILE SIZE")
	}
	var size int
	if _, err := fmt.Sscan(args[1], &size); err != nil {
		ts.Fatalf("mkfile: size %q: %v", args[1], err)
	}
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	ts.Check(os.MkdirAll(filepath.Dir(ts.MkAbs(args[0])), 0o755))
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), b, 0o644))
}

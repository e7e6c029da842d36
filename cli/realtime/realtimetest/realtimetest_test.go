// Package realtimetest runs `sov realtime` end to end against a running
// platform, as testscript scripts in testdata: a project made through the
// CLI, then its channel rules set, replaced, listed and deleted, and the
// messages and exit codes bad input gets.
//
// The platform is the one at SOVEREIGN_TEST_API_URL and
// SOVEREIGN_TEST_DATA_URL when both are set (`make test` starts one and sets
// them); otherwise the test starts one in process (internal/platformtest).
package realtimetest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/sovereign-backend/sovereign/cli/internal/clitestenv"
	"github.com/sovereign-backend/sovereign/cli/root"
)

// TestMain makes this test binary double as `sov` for the scripts.
func TestMain(m *testing.M) { clitestenv.Main(m, root.Main) }

func TestRealtime(t *testing.T) {
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
			e.Setenv("EMAIL", fmt.Sprintf("realtime-%d@example.com", time.Now().UnixNano()))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"jsonget":  clitestenv.JSONGet,
			"exitcode": exitCode,
		},
	})
}

// exitCode is `exitcode CODE PROGRAM ARGS...`: run PROGRAM like exec, and
// want it to exit with CODE. Its stdout and stderr are there for the next
// commands to check, as after exec.
func exitCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode CODE PROGRAM ARGS...")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exitcode: code %q: %v", args[0], err)
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exitcode: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with %d, want %d", args[1], got, want)
	}
}

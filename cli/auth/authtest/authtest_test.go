// Package authtest runs `sov auth` and `sov db rules` end to end against a
// running platform, as testscript scripts in testdata: a project made
// through the CLI, then its users, sessions, providers, signing keys and a
// collection's access rules.
//
// The platform is the one at SOVEREIGN_TEST_API_URL and
// SOVEREIGN_TEST_DATA_URL when both are set (`make test` starts one and sets
// them); otherwise the test starts one in process (internal/platformtest).
package authtest

import (
	"bytes"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/internal/clitestenv"
	"github.com/sovereign-backend/sovereign/cli/root"
)

// TestMain makes this test binary double as `sov` for the scripts: run under
// that name (see clitestenv.SovOnPath), it is the CLI.
func TestMain(m *testing.M) { clitestenv.Main(m, root.Main) }

func TestAuth(t *testing.T) {
	// Say plainly what is missing rather than let every script line fail
	// with "unknown command".
	f := &factory.Factory{IO: &factory.IOStreams{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}}
	if c, _, err := root.NewCmdRoot(f).Find([]string{"auth", "users"}); err != nil || c.Name() != "users" {
		t.Fatal("`sov auth` is not registered in cli/root: add auth.NewCmdAuth(f) to NewCmdRoot")
	}
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
			// A fresh account for every run of every script.
			e.Setenv("EMAIL", fmt.Sprintf("auth-%d@example.com", time.Now().UnixNano()))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"jsonget": clitestenv.JSONGet,
		},
	})
}

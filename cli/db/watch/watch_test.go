package watch_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/sovereign-backend/sovereign/cli/internal/clitestenv"
	"github.com/sovereign-backend/sovereign/cli/root"
)

// TestMain makes this test binary double as `sov` for the scripts.
func TestMain(m *testing.M) { clitestenv.Main(m, root.Main) }

// TestWatch runs `sov db watch` against a real platform (the running one
// named by SOVEREIGN_TEST_API_URL and SOVEREIGN_TEST_DATA_URL, else one
// started in process).
func TestWatch(t *testing.T) {
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
			e.Setenv("EMAIL", fmt.Sprintf("watch-%d@example.com", time.Now().UnixNano()))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"jsonget": clitestenv.JSONGet,
		},
	})
}

// Package dbtest runs `sov db` end to end against a running platform, as
// testscript scripts in testdata: a project made through the CLI, then its
// collections, records, queries, export and import, and schema history.
// The platform's URLs come from SOVEREIGN_TEST_API_URL and
// SOVEREIGN_TEST_DATA_URL, which `make test` sets.
package dbtest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/sovereign-backend/sovereign/cli/db"
	"github.com/sovereign-backend/sovereign/cli/factory"
	"github.com/sovereign-backend/sovereign/cli/root"
)

// TestMain makes this test binary double as `sov` for the scripts.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"sov": func() { os.Exit(sovMain()) },
	})
}

// sovMain is root.Main with `sov db` added when the root does not have it
// yet, so that these scripts run before and after it is wired in.
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
		root.PrintError(f.IO.ErrOut, err)
		return factory.ExitCode(err)
	}
	return factory.ExitOK
}

func TestDB(t *testing.T) {
	apiURL, dataURL := os.Getenv("SOVEREIGN_TEST_API_URL"), os.Getenv("SOVEREIGN_TEST_DATA_URL")
	if apiURL == "" || dataURL == "" {
		t.Fatal("cli/db/dbtest runs `sov db` against a running platform, and SOVEREIGN_TEST_API_URL and SOVEREIGN_TEST_DATA_URL are not both set.\n" +
			"Run it with `make test`, which starts a platform and sets both, or start one with `make dev` and run\n" +
			"  SOVEREIGN_TEST_API_URL=http://127.0.0.1:7070 SOVEREIGN_TEST_DATA_URL=http://127.0.0.1:7071 go test ./cli/db/dbtest/")
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata",
		Setup: func(e *testscript.Env) error {
			e.Setenv("SOV_API_URL", apiURL)
			e.Setenv("SOV_DATA_URL", dataURL)
			e.Setenv("SOV_CONFIG_DIR", e.WorkDir+"/config")
			e.Setenv("SOV_PROFILE", "")
			e.Setenv("SOV_KEY", "")
			// A fresh account for every run of every script.
			e.Setenv("EMAIL", fmt.Sprintf("db-%d@example.com", time.Now().UnixNano()))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"jsonget": jsonget,
		},
	})
}

// jsonget FILE FIELD VAR sets $VAR to the string FIELD of the JSON object in
// FILE (stdout for the last command's output). FIELD may be a dotted path
// with list indexes: keys.0.key.
func jsonget(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: jsonget FILE FIELD VAR")
	}
	var v any
	if err := json.Unmarshal([]byte(ts.ReadFile(args[0])), &v); err != nil {
		ts.Fatalf("%s is not JSON: %v", args[0], err)
	}
	for _, part := range strings.Split(args[1], ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[part]
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(x) {
				ts.Fatalf("%s: no element %q", args[1], part)
			}
			v = x[i]
		default:
			ts.Fatalf("%s: %q is not in an object or list", args[1], part)
		}
	}
	s, ok := v.(string)
	if !ok || s == "" {
		ts.Fatalf("%s of %s is %v, not a string", args[1], args[0], v)
	}
	ts.Setenv(args[2], s)
}

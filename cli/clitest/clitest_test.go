// Package clitest runs `sov` end to end against a running platform: the
// README quickstart's CLI steps, as testscript scripts in testdata. The
// platform's URLs come from SOVEREIGN_TEST_API_URL and
// SOVEREIGN_TEST_DATA_URL, which `make test` sets.
package clitest

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/sovereign-backend/sovereign/cli/root"
)

// TestMain makes this test binary double as `sov` for the scripts.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"sov": func() { os.Exit(root.Main()) },
	})
}

func TestQuickstart(t *testing.T) {
	apiURL, dataURL := os.Getenv("SOVEREIGN_TEST_API_URL"), os.Getenv("SOVEREIGN_TEST_DATA_URL")
	if apiURL == "" || dataURL == "" {
		t.Fatal("cli/clitest runs `sov` against a running platform, and SOVEREIGN_TEST_API_URL and SOVEREIGN_TEST_DATA_URL are not both set.\n" +
			"Run it with `make test`, which starts a platform and sets both, or start one with `make dev` and run\n" +
			"  SOVEREIGN_TEST_API_URL=http://127.0.0.1:7070 SOVEREIGN_TEST_DATA_URL=http://127.0.0.1:7071 go test ./cli/clitest/")
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata",
		Setup: func(e *testscript.Env) error {
			e.Setenv("SOV_API_URL", apiURL)
			e.Setenv("SOV_DATA_URL", dataURL)
			e.Setenv("SOV_CONFIG_DIR", e.WorkDir+"/config")
			e.Setenv("SOV_PROFILE", "")
			// A fresh account for every run of every script.
			e.Setenv("EMAIL", fmt.Sprintf("cli-%d@example.com", time.Now().UnixNano()))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"jsonget": jsonget,
			"perm":    perm,
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

// perm FILE MODE checks FILE's permission bits (octal).
func perm(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: perm FILE MODE")
	}
	want, err := strconv.ParseUint(args[1], 8, 32)
	if err != nil {
		ts.Fatalf("mode %q: %v", args[1], err)
	}
	st, err := os.Stat(ts.MkAbs(args[0]))
	ts.Check(err)
	if got := uint64(st.Mode().Perm()); (got == want) == neg {
		ts.Fatalf("%s has mode %#o; want %s%#o", args[0], got, map[bool]string{true: "not ", false: ""}[neg], want)
	}
}

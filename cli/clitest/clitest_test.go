// Package clitest runs the `sov` binary end to end against a running
// platform, as testscript scripts in testdata: quickstart.txtar is the
// README's Quickstart, step by step; the others cover the rest of the
// everyday commands.
//
// The platform is the one at SOVEREIGN_TEST_API_URL and
// SOVEREIGN_TEST_DATA_URL when both are set (`make test` starts one and sets
// them); otherwise the test starts one in process (internal/platformtest).
package clitest

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/sovereign-backend/sovereign/cli/internal/clitestenv"
	"github.com/sovereign-backend/sovereign/cli/root"
	sovereign "github.com/sovereign-backend/sovereign/sdk/go"
)

// TestMain makes this test binary double as `sov` for the scripts: run under
// that name (see clitestenv.SovOnPath), it is the CLI.
func TestMain(m *testing.M) { clitestenv.Main(m, root.Main) }

func TestScripts(t *testing.T) {
	apiURL, dataURL := clitestenv.Platform(t)
	bin := clitestenv.SovOnPath(t)
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata",
		RequireExplicitExec: true,
		Setup: func(e *testscript.Env) error {
			e.Setenv("PATH", bin+string(os.PathListSeparator)+e.Getenv("PATH"))
			e.Setenv("API_URL", apiURL)
			e.Setenv("DATA_URL", dataURL)
			e.Setenv("SOV_CONFIG_DIR", e.WorkDir+"/config")
			// A fresh email for every run of every script, for signing up.
			e.Setenv("EMAIL", fmt.Sprintf("cli-%d@example.com", time.Now().UnixNano()))
			// What `make dev` prints for its local account: a personal
			// access token to log in with.
			email, token, err := devLogin(apiURL)
			if err != nil {
				return err
			}
			e.Setenv("DEV_EMAIL", email)
			e.Setenv("TOKEN", token)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"jsonget":  clitestenv.JSONGet,
			"submatch": submatch,
			"perm":     perm,
		},
	})
}

// devLogin signs a new account up and gives it a personal access token,
// as `sovereign dev` does for its local account.
func devLogin(apiURL string) (email, token string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	email = fmt.Sprintf("dev-%d@example.com", time.Now().UnixNano())
	sess, err := sovereign.NewManagementClient(apiURL).Signup(ctx, email, "correct-horse-battery-staple")
	if err != nil {
		return "", "", fmt.Errorf("sign the dev account up: %w", err)
	}
	mc := sovereign.NewManagementClient(apiURL, sovereign.WithToken(sess.AccessToken))
	_, token, err = mc.CreateToken(ctx, "sovereign dev", 0)
	if err != nil {
		return "", "", fmt.Errorf("make the dev token: %w", err)
	}
	return email, token, nil
}

// submatch FILE REGEXP VAR sets $VAR to the first group of REGEXP's first
// match in FILE (stdout for the last command's output). REGEXP is in
// multi-line mode, like stdout's: ^ and $ match at line ends.
func submatch(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: submatch FILE REGEXP VAR")
	}
	re, err := regexp.Compile("(?m)" + args[1])
	if err != nil {
		ts.Fatalf("submatch: %v", err)
	}
	if re.NumSubexp() < 1 {
		ts.Fatalf("submatch: %q has no group", args[1])
	}
	m := re.FindStringSubmatch(ts.ReadFile(args[0]))
	if m == nil || m[1] == "" {
		ts.Fatalf("no match for %q in %s", args[1], args[0])
	}
	ts.Setenv(args[2], m[1])
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
